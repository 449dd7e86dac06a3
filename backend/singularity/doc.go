// Package singularity runs a plan.Plan with Apptainer or Singularity, the
// container runtimes of HPC clusters: as an ordinary user, without a daemon,
// from a SIF file, a sandbox directory, or an oras:// or docker:// reference
// pulled once into a cache.
//
// Render turns a Plan into an `apptainer exec` (or `singularity exec`) argv
// plus the child's environment: every Plan variable travels as
// APPTAINERENV_NAME (SINGULARITYENV_NAME) in the runtime's environment, never
// on its command line, and the host variables that Apptainer would pass
// through --cleanenv anyway (TERM, *_proxy) or that would steer it
// (APPTAINER_BIND, APPTAINERENV_*) are removed. Plan.PathPrepend travels as
// APPTAINERENV_PREPEND_PATH, which the runtime puts in front of the image's
// own PATH; the agent runs as the caller (no --fakeroot), so what it writes
// is the caller's. Render is pure; Exec carries
// the rendered value out and makes no decision Render did not make; Snippet
// prints the same steps as POSIX shell for --dry-run.
//
// This package may import the standard library, plan, internal/* and
// github.com/sylabs/sif/v2. It never imports another backend or cmd.
package singularity
