package main

import (
	"net/url"

	"github.com/launchcli/launch/plan"
)

// realRunChecks refuses what a real run would refuse before it contacts an
// engine, and the flags that would do nothing here, so that --dry-run,
// --json and a real run refuse the same inputs with the same exit code and
// message: launch calls it on every path, before anything is rendered,
// printed or run.
func realRunChecks(o *options, p plan.Plan, backend backendName) error {
	if o.DryRun && o.JSON {
		return usagef("--dry-run with --json: one prints the commands, the other the plan as JSON; pass one of them")
	}
	if err := flagsForBackend(o, backend); err != nil {
		return err
	}
	if from := o.from.of("network_via", 0); from.flag != "" && p.Network.Mode != plan.NetworkAllow {
		return usagef("%s %s: the proxy applies only to an allowlist, and the network here is %s; add --network allow=HOST,... or drop %s", from, o.NetworkVia, p.Network.Mode, from)
	}
	if o.Isolate && o.GlobalReadOnly {
		return usagef("%s with %s: the agent would work on a copy that it cannot write, so nothing would come back; drop one of them", o.from.of("isolate", 0), o.from.of("global_read_only", 0))
	}
	if o.Detach && !o.SlurmOn {
		// Under Apptainer the supervisor runs this launch attached, whose
		// host proxy then lives as long as the session.
		if p.Network.Proxy != nil && backend != backendSingularity {
			return usagef("--detach with --network allow=... through launch's host proxy (network_via socket): the proxy runs inside launch, which a detached session outlives; use --network-via sidecar (docker, podman: the proxy runs in a container of its own, removed with the session), run attached (in tmux or screen), or use --network none or open")
		}
		if p.Isolation != nil {
			return usagef("--detach with --isolate: the copy comes back as a branch when the session ends, which launch does not wait for when detached; drop one of them")
		}
	}
	return nil
}

// podmanSchemes are the --url schemes of the Podman bindings.
var podmanSchemes = map[string]bool{"unix": true, "ssh": true, "tcp": true}

// flagsForBackend refuses a flag, given on the command line, that the
// chosen backend does not use: a config file may name them for another
// backend, a flag is meant for this launch.
func flagsForBackend(o *options, backend backendName) error {
	if from := o.from.of("sif_path", 0); from.flag != "" && backend != backendSingularity {
		return usagef("%s %q: a SIF image, which the %s backend does not run (it runs OCI images); pass --image for an OCI image, or --backend singularity to run the SIF", from, o.SIFPath, backend)
	}
	if o.PodmanURL == "" {
		return nil
	}
	from := o.from.of("podman_url", 0)
	if from.flag != "" && backend != backendPodman {
		return usagef("%s %q: the Podman service to use, which the %s backend does not use; drop %s, or pass --backend podman", from, o.PodmanURL, backend, from)
	}
	if u, err := url.Parse(o.PodmanURL); err != nil || !podmanSchemes[u.Scheme] {
		return usagef("%s %q: not a Podman service address; give unix:///path.sock, ssh://user@host[:port]/path.sock or tcp://host:port", from, o.PodmanURL)
	}
	return nil
}
