package db

// The domain's vocabulary: the values of projects.status, agent_runs.status
// and users.role. The columns are text with a CHECK constraint listing the
// same values (TestVocabularyMatchesSchema keeps the two in step); sqlc
// types the columns with these types (sqlc.yaml overrides), so a status is
// never a bare string, and the rules that depend on it live here, used by
// services, handlers and views alike.

// ProjectStatus is a project's place in its life cycle:
// initializing → active ⇄ hibernated/stopped → deleting, or error.
type ProjectStatus string

// Project statuses.
const (
	ProjectStatusInitializing ProjectStatus = "initializing"
	ProjectStatusActive       ProjectStatus = "active"
	ProjectStatusHibernated   ProjectStatus = "hibernated"
	ProjectStatusStopped      ProjectStatus = "stopped"
	ProjectStatusError        ProjectStatus = "error"
	ProjectStatusDeleting     ProjectStatus = "deleting"
)

// AllProjectStatuses lists every project status, in life-cycle order.
var AllProjectStatuses = []ProjectStatus{
	ProjectStatusInitializing, ProjectStatusActive, ProjectStatusHibernated,
	ProjectStatusStopped, ProjectStatusError, ProjectStatusDeleting,
}

// CanStart: a project that is not running can be started.
func (s ProjectStatus) CanStart() bool {
	return s == ProjectStatusStopped || s == ProjectStatusHibernated || s == ProjectStatusError
}

// CanStop: a running, starting, sleeping or failed project can be stopped.
func (s ProjectStatus) CanStop() bool {
	return s == ProjectStatusActive || s == ProjectStatusInitializing || s == ProjectStatusHibernated || s == ProjectStatusError
}

// CanRestart: a running or failed project can be restarted.
func (s ProjectStatus) CanRestart() bool {
	return s == ProjectStatusActive || s == ProjectStatusError
}

// Live: the project runs or is coming up.
func (s ProjectStatus) Live() bool {
	return s == ProjectStatusActive || s == ProjectStatusInitializing
}

// RunStatus is where an agent run stands: running until it ends in one of
// the other statuses.
type RunStatus string

// Run statuses.
const (
	RunStatusRunning        RunStatus = "running"
	RunStatusSucceeded      RunStatus = "succeeded"
	RunStatusFailed         RunStatus = "failed"
	RunStatusCancelled      RunStatus = "cancelled"
	RunStatusBudgetExceeded RunStatus = "budget_exceeded"
)

// AllRunStatuses lists every run status.
var AllRunStatuses = []RunStatus{
	RunStatusRunning, RunStatusSucceeded, RunStatusFailed, RunStatusCancelled, RunStatusBudgetExceeded,
}

// Done: the run has ended, however it ended.
func (s RunStatus) Done() bool { return s != RunStatusRunning }

// Failed: the run ended without finishing its work (cancelled is not a
// failure: the person asked for it).
func (s RunStatus) Failed() bool {
	return s == RunStatusFailed || s == RunStatusBudgetExceeded
}

// CanUndo: an ended run that took a checkpoint can be undone; a running
// one must be cancelled first.
func (r AgentRun) CanUndo() bool { return r.CheckpointID != nil && r.Status.Done() }

// UserRole is what an account may do.
type UserRole string

// User roles.
const (
	UserRoleUser  UserRole = "user"
	UserRoleAdmin UserRole = "admin"
)

// AllUserRoles lists every role.
var AllUserRoles = []UserRole{UserRoleUser, UserRoleAdmin}

// IsAdmin: the role administers the installation.
func (r UserRole) IsAdmin() bool { return r == UserRoleAdmin }

// Valid: the role is one the database accepts.
func (r UserRole) Valid() bool { return r == UserRoleUser || r == UserRoleAdmin }
