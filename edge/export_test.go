package edge

// ForceCoalescing makes s's writers hold frames as they do when the
// server is saturated (writers.go), whatever its load.
func ForceCoalescing(s *Server) {
	s.writers.on, s.writers.off = 0, -1
	s.writers.coalescing.Store(true)
}
