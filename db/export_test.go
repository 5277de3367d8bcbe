package db

// Kill ends an embedded server at once, as a crash would.
func Kill(e *Embedded) { e.kill() }
