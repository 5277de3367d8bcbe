package handlers

import (
	"github.com/labstack/echo/v4"

	"studio/projects"
	"studio/static"
)

// routes lists every route studio serves, top to bottom.
func (s *Server) routes() {
	e := s.echo
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/static/*", echo.WrapHandler(static.Handler()))

	// Browser pages: cookie session + CSRF.
	web := e.Group("", s.refuseDuplicateCookies, s.checkOrigin, s.loadSession, s.csrfProtect)
	web.GET("/signup", s.signupPage)
	web.POST("/signup", s.signup)
	web.GET("/login", s.loginPage)
	web.POST("/login", s.login)
	web.POST("/logout", s.logout)
	web.GET("/", s.dashboard, s.requireUser)
	web.GET("/events", s.dashboardEvents, s.requireUser)
	web.POST("/projects", s.createProject, s.requireUser)
	web.POST("/projects/:id/:action", s.projectCardAction, s.requireUser)
	web.GET("/projects/:id/preview", s.openPreview, s.requireUser)
	web.GET("/projects/:id/card", s.projectCard, s.requireUser)
	web.GET("/projects/:id", s.workspace, s.requireUser)
	web.GET("/projects/:id/events", s.apiProjectEvents, s.requireUser)
	web.GET("/projects/:id/logs", s.projectLogs, s.requireUser)
	web.GET("/projects/:id/files/*", s.apiReadFile, s.requireUser)
	web.PUT("/projects/:id/files/*", s.apiWriteFile, s.requireUser)
	web.DELETE("/projects/:id/files/*", s.apiDeleteFile, s.requireUser)
	web.POST("/projects/:id/files\\:move", s.apiMoveFile, s.requireUser)
	web.POST("/projects/:id/files\\:create", s.createFileForm, s.requireUser)
	web.POST("/projects/:id/files\\:rename", s.renameFileForm, s.requireUser)
	web.POST("/projects/:id/files\\:delete", s.deleteFileForm, s.requireUser)
	web.GET("/projects/:id/tree", s.fileTree, s.requireUser)
	web.GET("/projects/:id/header", s.workspaceHeader, s.requireUser)
	web.POST("/projects/:id/chat", s.chatSend, s.requireUser)
	web.GET("/runs/:id/events", s.runEvents, s.requireUser)
	web.POST("/runs/:id/cancel", s.runCancel, s.requireUser)
	web.POST("/runs/:id/undo", s.runUndo, s.requireUser)
	web.GET("/profile", s.profilePage, s.requireUser)
	web.POST("/profile/name", s.updateName, s.requireUser)
	web.POST("/profile/password", s.changePassword, s.requireUser)
	web.GET("/settings", s.settingsPage, s.requireUser)
	web.POST("/settings/providers/:provider", s.saveProvider, s.requireUser)
	web.POST("/settings/providers/:provider/delete", s.deleteProvider, s.requireUser)
	web.POST("/settings/providers/:provider/test", s.testProvider, s.requireUser)
	web.GET("/admin", s.adminPage, s.requireAdmin)
	web.POST("/admin/users/:id/:action", s.adminUserAction, s.requireAdmin)
	web.POST("/admin/invites", s.createInvite, s.requireAdmin)
	web.POST("/admin/projects/:id/:action", s.adminProjectAction, s.requireAdmin)

	// JSON API: bearer access tokens.
	api := e.Group("/api")
	// These set or read the refresh cookie, so they get the browser checks.
	cookieAuth := []echo.MiddlewareFunc{s.refuseDuplicateCookies, s.checkOrigin}
	api.POST("/auth/register", s.apiRegister, cookieAuth...)
	api.POST("/auth/login", s.apiLogin, cookieAuth...)
	api.POST("/auth/refresh", s.apiRefresh, cookieAuth...)
	api.POST("/auth/logout", s.apiLogout, cookieAuth...)

	authed := api.Group("", s.requireToken)
	authed.GET("/auth/me", s.apiMe)
	authed.GET("/settings/providers", s.apiListProviders)
	authed.PUT("/settings/providers/:provider", s.apiPutProvider)
	authed.DELETE("/settings/providers/:provider", s.apiDeleteProvider)

	authed.GET("/templates", s.apiTemplates)
	authed.POST("/projects", s.apiCreateProject)
	authed.GET("/projects", s.apiListProjects)
	authed.GET("/projects/:id", s.apiGetProject)
	authed.PATCH("/projects/:id", s.apiRenameProject)
	authed.DELETE("/projects/:id", s.apiDeleteProject)
	authed.POST("/projects/:id/start", s.apiProjectAction(func(p *projects.Service) projectAction { return p.Start }))
	authed.POST("/projects/:id/stop", s.apiProjectAction(func(p *projects.Service) projectAction { return p.Stop }))
	authed.POST("/projects/:id/restart", s.apiProjectAction(func(p *projects.Service) projectAction { return p.Restart }))
	authed.GET("/projects/:id/events", s.apiProjectEvents)
	authed.GET("/projects/:id/logs", s.apiProjectLogs)
	authed.POST("/projects/:id/preview-link", s.apiPreviewLink)
	authed.POST("/projects/:id/share", s.apiShare)
	authed.DELETE("/projects/:id/share", s.apiShare)
	authed.GET("/projects/:id/files", s.apiFileTree)
	authed.POST("/projects/:id/files\\:move", s.apiMoveFile)
	authed.GET("/projects/:id/files/*", s.apiReadFile)
	authed.PUT("/projects/:id/files/*", s.apiWriteFile)
	authed.DELETE("/projects/:id/files/*", s.apiDeleteFile)
	authed.GET("/projects/:id/checkpoints", s.apiListCheckpoints)
	authed.POST("/projects/:id/checkpoints", s.apiCreateCheckpoint)
	authed.POST("/projects/:id/checkpoints/:cid/restore", s.apiRestoreCheckpoint)

	authed.GET("/agents", s.apiAgents)
	authed.POST("/projects/:id/chat", s.apiChat)
	authed.GET("/projects/:id/messages", s.apiMessages)
	authed.GET("/runs/:id", s.apiRun)
	authed.GET("/runs/:id/stream", s.apiRunStream)
	authed.POST("/runs/:id/cancel", s.apiCancelRun)
	authed.POST("/runs/:id/undo", s.apiUndoRun)
	authed.GET("/runs/:id/commands", s.apiRunCommands)

	api.Any("/*", func(c echo.Context) error { return echo.ErrNotFound })
}
