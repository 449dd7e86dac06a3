// Package supervisor keeps launch's own sessions where no engine keeps them:
// a detached Apptainer session, and the watcher that ends an attached
// session whose launch died (no orphans).
//
// A detached Apptainer session has no daemon to keep it. Its supervisor, the
// hidden "launch _session", runs "launch --yes ARGS" (the same launch,
// attached) in a pseudo-terminal of its own, in a session of its own (a
// logout's SIGHUP does not reach it), writes everything the agent prints to
// the session's log and serves launch attach on a unix socket in a directory
// only its user can open (Serve, Session). Its state file (session.State) is
// what launch ps reads.
//
// The watcher ("launch _watch") holds the read end of a pipe whose write end
// only launch holds; what launch writes on it is the protocol of Watch and
// ReadWatch.
//
// Platforms: everything here builds and runs on Linux and macOS. The
// pseudo-terminal is github.com/creack/pty's, processes are signalled with
// kill(2), and nothing reads /proc. On a Mac, Docker and Podman are the
// engines, and they keep detached sessions themselves; Apptainer does not
// run on macOS, so launch never starts a supervisor there, but the watcher
// runs for every attached session.
//
// The package imports the session state and the terminal runner, and no
// backend and no command: cmd/launch decides when a supervisor or a watcher
// runs.
package supervisor
