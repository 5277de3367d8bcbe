package views

import (
	"strconv"
	"time"

	"github.com/google/uuid"

	"studio/db"
)

// ProjectView is what the project card and the workspace header show of a
// project: its status typed, and what that status allows worked out once
// by the status's own rules.
type ProjectView struct {
	ID           uuid.UUID
	Name         string
	Template     string
	Status       db.ProjectStatus
	StatusReason string
	Progress     string // the step an initializing project is at
	LastActiveAt time.Time

	Starting    bool // initializing: shows a spinner and asks for itself again
	Running     bool // active: the preview can be opened
	Paused      bool // active, its container frozen while idle; any use thaws it
	Failed      bool // error: StatusReason says why
	HeldByAdmin bool // stopped by an administrator, so previews do not wake it
	CanStart    bool
	CanStop     bool
	CanRestart  bool
}

// NewProjectView is the view of a project row.
func NewProjectView(p db.Project) ProjectView {
	return ProjectView{
		ID: p.ID, Name: p.Name, Template: p.Template,
		Status: p.Status, StatusReason: p.StatusReason, Progress: p.Progress, LastActiveAt: p.LastActiveAt,
		Starting:    p.Status == db.ProjectStatusInitializing,
		Running:     p.Status == db.ProjectStatusActive,
		Paused:      p.Status == db.ProjectStatusActive && p.PausedAt != nil,
		Failed:      p.Status == db.ProjectStatusError,
		HeldByAdmin: p.Status == db.ProjectStatusStopped && p.HeldByAdmin,
		CanStart:    p.Status.CanStart(),
		CanStop:     p.Status.CanStop(),
		CanRestart:  p.Status.CanRestart(),
	}
}

// Path is the project's workspace address; its actions hang below it.
func (v ProjectView) Path() string { return "/projects/" + v.ID.String() }

// UserView is a row of the administrator's user list.
type UserView struct {
	ID       uuid.UUID
	Email    string
	Name     string
	Role     db.UserRole
	Disabled bool
}

// NewUserView is the view of a user row; it leaves the secrets behind.
func NewUserView(u db.User) UserView {
	return UserView{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, Disabled: u.DisabledAt != nil}
}

// NewUserViews is NewUserView for a list.
func NewUserViews(users []db.User) []UserView {
	out := make([]UserView, len(users))
	for i, u := range users {
		out[i] = NewUserView(u)
	}
	return out
}

// countOf spells a count with its noun, singular for one: "1 install",
// "3 installs".
func countOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
