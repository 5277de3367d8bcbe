package projects

// Status is a project's place in its life cycle:
// initializing → active ⇄ hibernated/stopped → deleting, or error.
// Its methods are the rules handlers and views share.
type Status string

// CanStart: a project that is not running can be started.
func (s Status) CanStart() bool {
	return s == StatusStopped || s == StatusHibernated || s == StatusError
}

// CanStop: a running, starting, sleeping or failed project can be stopped.
func (s Status) CanStop() bool {
	return s == StatusActive || s == StatusInitializing || s == StatusHibernated || s == StatusError
}

// CanRestart: a running or failed project can be restarted.
func (s Status) CanRestart() bool { return s == StatusActive || s == StatusError }

// Live: the project runs or is coming up.
func (s Status) Live() bool { return s == StatusActive || s == StatusInitializing }
