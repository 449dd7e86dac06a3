package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"

	"github.com/launchcli/launch/creds"
	"github.com/launchcli/launch/mounts"
	"github.com/launchcli/launch/plan"
)

// mountSet is what the mounts step decided: the effective mounts (one rule
// for every backend: mounts.List), the host paths a real run creates, and
// what later steps need to know.
type mountSet struct {
	mounts   []plan.Mount
	prepare  []plan.HostPath
	bedrock  bool   // Amazon Bedrock is on for this agent
	certs    bool   // --certs is mounted at CertsTarget
	condaBin string // the conda env's bin in the container, or ""
	// protected are the workspace paths the agent must not change.
	protected []string
	// gitDirs are git directories outside the workspace that the agent may
	// write (git_dir_writable), guarded as the workspace's .git is.
	gitDirs []string
	watched []plan.WatchedFile
	// ctx is the agent's prompt and skills.
	ctx agentContext
}

// mountsOf decides the mounts, in the order that makes later ones sit on
// earlier ones: the workspace, credentials, the user's mounts, certs, the
// conda env, then --ro and --mask on the workspace, then the protected
// paths read-only, then all of these again wherever another mount shows
// the workspace's content (carryOverlays).
func mountsOf(o *options, a agent, h *Host, ws workspace, user plan.User, n *notes) (mountSet, error) {
	var m mountSet
	var list mounts.List
	add := func(mt plan.Mount, where fmt.Stringer) error {
		if err := list.Add(mt); err != nil {
			if where != nil {
				return usagef("%s: %w", where, err)
			}
			return usagef("%w", err)
		}
		return nil
	}
	if err := add(plan.Mount{Kind: plan.MountBind, Source: ws.real, Target: ws.target, ReadOnly: o.GlobalReadOnly, Origin: plan.OriginWorkspace}, nil); err != nil {
		return m, err
	}
	if err := agentMounts(a, h, user, &m, &list, add, n); err != nil {
		return m, err
	}
	for i, sp := range o.Mounts {
		mt, err := o.resolveMount(i, sp.Spec, h)
		if err == nil {
			err = add(mt, o.from.of("mounts", i))
		}
		if err != nil {
			return m, o.from.errAt("mounts", i, err)
		}
	}
	g, err := gitLayoutOf(h, ws, n)
	if err != nil {
		return m, err
	}
	if err := gitMounts(o, h, g, ws, add, n); err != nil {
		return m, err
	}
	if o.GitDirWritable && !o.Isolate {
		m.gitDirs = g.gitDirs()
	}
	if m.ctx, err = contextOf(o, a, h, ws, user, add, &m, n); err != nil {
		return m, err
	}
	if err := certsMount(o, h, add); err != nil {
		return m, err
	}
	m.certs = o.Certs != ""
	if o.CondaEnv != "" {
		bin, mt, err := resolveConda(o.from.of("conda_env", 0).String(), o.CondaEnv, ws, h)
		if err != nil {
			return m, err
		}
		if mt != nil {
			if err := add(*mt, o.from.of("conda_env", 0)); err != nil {
				return m, err
			}
		}
		m.condaBin = bin
	}
	if err := overlayMounts(o, h, ws, add, n); err != nil {
		return m, err
	}
	if m.protected, err = protectedOf(o, h, ws, g); err != nil {
		return m, err
	}
	if err := protectAll(m.protected, h, ws, g, o.Isolate, &list, add); err != nil {
		return m, err
	}
	m.mounts = list.Mounts()
	for _, w := range list.Warnings() {
		n.warn("%s", w)
	}
	projectWarnings(o, h, ws, n)
	return m, nil
}

// agentMounts adds the agent's credential directories (writable) and, over
// them, its settings files that name commands (read-only), and records what
// must be prepared before the session and watched after it.
func agentMounts(a agent, h *Host, user plan.User, m *mountSet, list *mounts.List, add func(plan.Mount, fmt.Stringer) error, n *notes) error {
	m.bedrock = bedrockOn(a, h)
	cr, err := creds.Resolve(a.Credentials, h.Home, user.Home, m.bedrock, h.Stat)
	if err != nil {
		return usagef("agent %q: %w", a.Name, err)
	}
	for _, mt := range cr.Mounts {
		if real, err := h.EvalSymlinks(mt.Source); err == nil {
			mt.Source = real // a link in the home leads where the engine binds
		}
		if err := add(mt, nil); err != nil {
			return err
		}
		n.info("credentials: mounting %q at %q", mt.Source, mt.Target)
	}
	for _, s := range cr.Skipped {
		n.info("credentials: %q does not exist; not mounted", s)
	}
	m.prepare = cr.Prepare
	st, err := creds.ResolveSettings(a.Settings, list.Mounts(), h.Home, user.Home, h.Stat, h.EvalSymlinks)
	if err != nil {
		return usagef("agent %q: %w", a.Name, err)
	}
	for _, mt := range st.Mounts {
		if err := add(mt, nil); err != nil {
			return err
		}
	}
	if len(st.Mounts) > 0 {
		n.info("agent settings: read-only inside, so that the agent cannot plant commands that your own %s runs: %s", a.Name, mountSources(st.Mounts))
	}
	m.prepare = append(m.prepare, st.Prepare...)
	m.watched = creds.WatchedOf(a.Settings, list.Mounts(), h.Home, user.Home, h.EvalSymlinks)
	return nil
}

// certsMount mounts the --certs PEM bundle read-only at CertsTarget.
func certsMount(o *options, h *Host, add func(plan.Mount, fmt.Stringer) error) error {
	if o.Certs == "" {
		return nil
	}
	where := o.from.of("certs", 0)
	src := mounts.Expand(o.Certs, h.Cwd, h.Home)
	real, err := h.EvalSymlinks(src)
	var fi fs.FileInfo
	if err == nil {
		src = real
		fi, err = h.Stat(src)
	}
	if err != nil || fi.IsDir() {
		return usagef("%s %q: not a file; give the path of a PEM bundle (or unset LLM_DEVCONTAINER_CERTS)", where, src)
	}
	b, err := h.ReadFile(src)
	if err != nil {
		return usagef("%s %q: %w", where, src, err)
	}
	if !bytes.Contains(b, []byte("-----BEGIN CERTIFICATE-----")) {
		return usagef("%s %q: not a PEM bundle (no -----BEGIN CERTIFICATE----- line); give the CA certificates in PEM form", where, src)
	}
	return add(plan.Mount{Kind: plan.MountBind, Source: src, Target: CertsTarget, ReadOnly: true, File: true, Origin: plan.OriginCerts}, where)
}

// overlayMounts puts --ro re-mounts and --mask masks on the workspace.
func overlayMounts(o *options, h *Host, ws workspace, add func(plan.Mount, fmt.Stringer) error, n *notes) error {
	for _, kind := range []struct {
		key  string
		mask bool
	}{{"ro", false}, {"mask", true}} {
		paths := o.RO
		if kind.mask {
			paths = o.Mask
		}
		for i, p := range paths {
			where := o.from.of(kind.key, i)
			abs := mounts.Expand(p, ws.host, h.Home)
			if _, err := h.EvalSymlinks(abs); errors.Is(err, fs.ErrNotExist) && where.file != "" {
				// A config file serves many workspaces: a path that one
				// of them lacks has nothing to protect or hide there.
				n.info("%s %q: not in this workspace; skipped", where, p)
				continue
			}
			host, target, isDir, err := mounts.Sub(where.String(), abs, ws.m(), h.fs())
			if err != nil {
				return usagef("%w", err)
			}
			m := plan.Mount{Kind: plan.MountBind, Source: host, Target: target, ReadOnly: true, File: !isDir, Origin: plan.OriginReadOnly}
			if kind.mask {
				m = plan.Mount{Kind: plan.MountMask, Target: target, ReadOnly: true, File: !isDir, Origin: plan.OriginMask}
			}
			if err := add(m, where); err != nil {
				return err
			}
		}
	}
	return nil
}

// projectWarnings names what the project config adds beyond the workspace:
// host directories outside it and host variables passed by name.
func projectWarnings(o *options, h *Host, ws workspace, n *notes) {
	var names []string
	var file string
	for i, e := range o.Env {
		if from := o.from.of("env", i); from.project && !e.HasValue {
			names, file = append(names, e.Name), from.file
		}
	}
	for i, sp := range o.Mounts {
		from := o.from.of("mounts", i)
		src := mounts.Expand(sp.Host, h.Cwd, h.Home)
		real, err := h.EvalSymlinks(src)
		if _, inside := ws.m().Inside(real); from.project && err == nil && !inside {
			if real != src {
				src = fmt.Sprintf("%s (a link to %s)", src, real)
			}
			n.warn("%s mounts %q, outside the workspace; remove it from that file if you did not mean the agent to see it", from.file, src)
		}
	}
	if len(names) > 0 {
		n.warn("%s passes host variables to the agent: %s", file, joinWords(names))
	}
}

// pathOf puts the conda env's bin and --path-prepend in front of PATH: of
// the image's own PATH (Plan.PathPrepend), or of a PATH the user set with
// --env.
func pathOf(o *options, ws workspace, m mountSet, ms []plan.Mount, env []plan.EnvVar) ([]string, []plan.EnvVar, error) {
	var front []string
	if m.condaBin != "" {
		front = append(front, m.condaBin)
	}
	for i, pp := range o.PathPrepend {
		target := path.Join(ws.target, filepath.ToSlash(pp))
		if path.IsAbs(pp) {
			target = path.Clean(pp)
			if !underMount(target, ms) {
				return nil, nil, usagef("%s %q: not under any mount, so it does not exist in the container; mount it with --mount or give a path relative to the workspace", o.from.of("path_prepend", i), pp)
			}
		}
		front = append(front, target)
	}
	if userPath, ok := lookupEnv(env, "PATH"); ok && len(front) > 0 {
		env = plan.SortEnv(append(env, plan.EnvVar{Name: "PATH", Value: joinPath(append(front, splitPath(userPath.Value)...))}))
		return nil, env, nil
	}
	return dedupe(front), env, nil
}

// mountSources lists the sources of mounts, for a note.
func mountSources(ms []plan.Mount) string {
	s := ""
	for i, m := range ms {
		if i > 0 {
			s += ", "
		}
		s += m.Source
	}
	return s
}
