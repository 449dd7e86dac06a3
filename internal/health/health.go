// Package health holds what launch doctor reports about one backend: facts
// (binary, version, rootless, runsc, image) and problems, each with the fix.
// Every backend fills a Report with its own probe; cmd/launch prints them.
// It imports only the standard library.
package health

// Report is what one backend's probe found.
type Report struct {
	// Backend is the backend's name: docker, podman, singularity.
	Backend string `json:"backend"`
	// Ready is set when the backend can start a container now: its runtime
	// is installed and answers.
	Ready bool `json:"ready"`
	// Facts are what the probe learnt, in order.
	Facts []Fact `json:"facts"`
	// Problems are what stops a launch (Fatal) or limits it, each with its
	// fix.
	Problems []Problem `json:"problems,omitempty"`
}

// Fact is one thing a probe learnt: "version" "24.0.7".
type Fact struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Problem is something wrong and what to do about it.
type Problem struct {
	// What failed, on which value.
	What string `json:"what"`
	// Fix is what the user can do.
	Fix string `json:"fix"`
	// Fatal problems stop every launch on this backend; the others limit
	// it (no runsc, the image not yet pulled).
	Fatal bool `json:"fatal"`
}

// Add records a fact.
func (r *Report) Add(name, value string) { r.Facts = append(r.Facts, Fact{name, value}) }

// Fail records a problem that stops every launch and clears Ready.
func (r *Report) Fail(what, fix string) {
	r.Ready = false
	r.Problems = append(r.Problems, Problem{What: what, Fix: fix, Fatal: true})
}

// Warn records a problem that limits a launch.
func (r *Report) Warn(what, fix string) {
	r.Problems = append(r.Problems, Problem{What: what, Fix: fix})
}
