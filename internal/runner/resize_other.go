//go:build !unix

package runner

// onResize does nothing where there is no SIGWINCH.
func onResize(func()) (stop func()) { return func() {} }
