package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/launchcli/launch/mounts"
	"github.com/launchcli/launch/plan"
)

// PromptTarget is where the agent reads its system prompt in the container.
const PromptTarget = "/etc/launch/prompt.md"

// promptFileArg stands for the prompt's container path in prompt_args.
const promptFileArg = "{file}"

// checkAgentContext checks the prompt and skill keys of one [agents.NAME]
// table as the file gives them.
func checkAgentContext(a agentConfig) error {
	if a.Prompt != nil && a.PromptFile != nil {
		return fmt.Errorf("prompt and prompt_file are both set; keep one")
	}
	if a.PromptArgs != nil {
		n := 0
		for _, x := range a.PromptArgs {
			n += strings.Count(x, promptFileArg)
		}
		if n != 1 {
			return fmt.Errorf("prompt_args %q: want %s exactly once, where the prompt file's path goes", a.PromptArgs, promptFileArg)
		}
	}
	for _, k := range []struct {
		key string
		v   *string
	}{{"skills_home", a.SkillsHome}, {"skills_project", a.SkillsProject}, {"skill_manifest", a.SkillManifest}} {
		if k.v == nil {
			continue
		}
		if p := filepath.ToSlash(*k.v); *k.v == "" || path.IsAbs(p) || p != path.Clean(p) || p == ".." || strings.HasPrefix(p, "../") {
			return fmt.Errorf("%s %q: want a clean relative path without '..'", k.key, *k.v)
		}
	}
	for _, s := range a.Skills {
		if err := checkSkillName(s); err != nil {
			return err
		}
	}
	return nil
}

// checkSkillName accepts a skill directory's name: no path, no dot file.
func checkSkillName(s string) error {
	if s == "" || strings.ContainsAny(s, "/\\:,\n") || strings.HasPrefix(s, ".") {
		return fmt.Errorf("skill %q: want the name of a skill directory (no '/', no leading '.')", s)
	}
	return nil
}

// agentContext is what the agent is given besides the workspace: its
// prompt and its skills, as mounts, host files and arguments.
type agentContext struct {
	prompt *plan.Prompt
	args   []string // prompt arguments, after the agent's command
	skills []plan.Skill
	ssh    *plan.SSH
	env    []plan.EnvVar // SSH_AUTH_SOCK with a forwarded agent
}

// contextOf reads the prompt (--prompt, or the agent's prompt or
// prompt_file) and finds the skills (the agent's skills and --skill), and
// adds their read-only mounts and the prompt's host file.
func contextOf(o *options, a agent, h *Host, ws workspace, user plan.User, add func(plan.Mount, fmt.Stringer) error, m *mountSet, n *notes) (agentContext, error) {
	var c agentContext
	text, from, err := promptText(o, a, h, ws)
	if err != nil {
		return c, err
	}
	if from != "" {
		if c, err = promptOf(a, h, text, from, add, m, n); err != nil {
			return c, err
		}
	}
	if c.skills, err = skillsOf(o, a, h, ws, user, add); err != nil {
		return c, err
	}
	m.ctx = c
	err = sshOf(o, a, h, user, add, m, n)
	return m.ctx, err
}

// promptText is the prompt's text and where it came from; "" when none. A
// prompt file named inside the workspace must still be there with its
// links resolved when it is read: the workspace is the repository's and
// the agent's to change, and a link it leaves there must not copy a host
// file (~/.ssh/id_ed25519) into the agent's prompt.
func promptText(o *options, a agent, h *Host, ws workspace) (string, string, error) {
	var file string
	switch {
	case o.PromptFile != "":
		file = mounts.Expand(o.PromptFile, h.Cwd, h.Home)
	case a.PromptFile != nil:
		file = mounts.Expand(*a.PromptFile, h.Cwd, h.Home)
	case a.Prompt != nil:
		if strings.TrimSpace(*a.Prompt) == "" {
			return "", "", usagef("[agents.%s] prompt: empty; remove it or write the prompt", a.Name)
		}
		return *a.Prompt, fmt.Sprintf("[agents.%s] prompt", a.Name), nil
	default:
		return "", "", nil
	}
	real, err := h.EvalSymlinks(file)
	if err == nil {
		_, reviewed := o.reviewed[file]
		_, in := ws.m().Inside(real)
		switch {
		case o.PromptFile == "" && reviewed:
			// The project file's: judged (and trusted) as it led then.
			if err := o.asReviewed(file, real, h); err != nil {
				return "", "", err
			}
		case !in && mounts.Within(file, ws.host):
			return "", "", usagef("prompt file %q: a symbolic link makes it %q, outside the workspace; give that path itself if you mean it", file, real)
		}
		file = real
	}
	b, err := h.ReadFile(file)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", "", usagef("prompt file %q: %w", file, err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return "", "", usagef("prompt file %q: empty; write the prompt in it", file)
	}
	if !utf8.Valid(b) {
		return "", "", usagef("prompt file %q: not UTF-8 text", file)
	}
	return string(b), file, nil
}

// promptOf gives the agent the prompt its own way: a private copy on the
// host (0600 in a 0700 directory, named by its content so that a dry run
// and the real run agree), mounted read-only at PromptTarget and named by
// the agent's prompt_args.
func promptOf(a agent, h *Host, text, from string, add func(plan.Mount, fmt.Stringer) error, m *mountSet, n *notes) (agentContext, error) {
	var c agentContext
	if len(a.PromptArgs) == 0 {
		return c, usagef("agent %q takes no system prompt file that launch knows of; set prompt_args under [agents.%s] (with %s for the file's path), or drop --prompt, prompt and prompt_file", a.Name, a.Name, promptFileArg)
	}
	sum := sha256.Sum256([]byte(text))
	dir := filepath.Join(stateDir(h), "prompts")
	host := filepath.Join(dir, hex.EncodeToString(sum[:12])+".md")
	m.prepare = append(m.prepare, plan.HostPath{Path: dir, Dir: true}, plan.HostPath{Path: host, Content: text})
	if err := add(plan.Mount{Kind: plan.MountBind, Source: host, Target: PromptTarget, ReadOnly: true, File: true, Origin: plan.OriginPrompt}, nil); err != nil {
		return c, err
	}
	for _, x := range a.PromptArgs {
		c.args = append(c.args, strings.ReplaceAll(x, promptFileArg, PromptTarget))
	}
	c.prompt = &plan.Prompt{Host: host, Target: PromptTarget, Size: len(text), FirstLine: firstLine(text), From: from}
	if a.PromptReplaces {
		n.warn("agent %q: the prompt replaces the agent's own built-in instructions (it has no way to add to them from a file); write a complete system prompt, or set prompt_args under [agents.%s]", a.Name, a.Name)
	}
	n.info("prompt: %d bytes from %s, mounted read-only at %s", len(text), from, PromptTarget)
	return c, nil
}

// firstLine is the first non-blank line of text, at most 72 characters.
func firstLine(text string) string {
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if r := []rune(l); len(r) > 72 {
				return string(r[:71]) + "…"
			}
			return l
		}
	}
	return ""
}

// skillsOf finds each skill asked for in the project's skills directory,
// then in the user's, checks its manifest, and mounts it read-only where
// the agent looks for it: a project skill over itself in the workspace, a
// user skill at the same place under the container's home.
func skillsOf(o *options, a agent, h *Host, ws workspace, user plan.User, add func(plan.Mount, fmt.Stringer) error) ([]plan.Skill, error) {
	names := append(append([]string(nil), a.Skills...), o.SkillFlags...)
	if len(names) == 0 {
		return nil, nil
	}
	if a.SkillsHome == "" && a.SkillsProject == "" {
		return nil, usagef("agent %q: launch does not know where it looks for skills; set skills_home and skills_project under [agents.%s], or drop skills and --skill", a.Name, a.Name)
	}
	manifest := a.SkillManifest
	if manifest == "" {
		manifest = "SKILL.md"
	}
	type place struct{ host, target, label string }
	var places []place
	if a.SkillsProject != "" {
		places = append(places, place{filepath.Join(ws.real, a.SkillsProject), path.Join(ws.target, filepath.ToSlash(a.SkillsProject)), "project"})
	}
	if a.SkillsHome != "" {
		places = append(places, place{filepath.Join(h.Home, a.SkillsHome), path.Join(user.Home, filepath.ToSlash(a.SkillsHome)), "user"})
	}
	var out []plan.Skill
	seen := map[string]bool{}
	for _, name := range names {
		if err := checkSkillName(name); err != nil {
			return nil, usagef("%w", err)
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		var found *plan.Skill
		for _, pl := range places {
			dir := filepath.Join(pl.host, name)
			fi, err := h.Stat(dir)
			if err != nil || !fi.IsDir() {
				continue
			}
			if _, err := h.Stat(filepath.Join(dir, manifest)); err != nil {
				return nil, usagef("skill %q: %s has no %s; a skill directory holds one", name, dir, manifest)
			}
			real, err := h.EvalSymlinks(dir)
			if err != nil {
				return nil, usagef("skill %q: %w", name, err)
			}
			// A project skill is the workspace's own: one whose links
			// leave the workspace would mount a host directory
			// (~/.ssh, with skill_manifest naming a key) read by the
			// agent.
			if _, in := ws.m().Inside(real); pl.label == "project" && !in {
				return nil, usagef("skill %q: %s is a symbolic link to %q, outside the workspace; a project skill must lie in the workspace (put a skill of your own in %s)", name, dir, real, filepath.Join(h.Home, a.SkillsHome))
			}
			found = &plan.Skill{Name: name, Source: real, Target: path.Join(pl.target, name)}
			break
		}
		if found == nil {
			var where []string
			for _, pl := range places {
				where = append(where, pl.host)
			}
			return nil, usagef("skill %q: not found for agent %q in %s; skills there: %s", name, a.Name, strings.Join(where, " or "), strings.Join(skillNames(h, manifest, where...), ", "))
		}
		if err := add(plan.Mount{Kind: plan.MountBind, Source: found.Source, Target: found.Target, ReadOnly: true, Origin: plan.OriginSkill}, nil); err != nil {
			return nil, err
		}
		out = append(out, *found)
	}
	return out, nil
}

// skillNames lists the skills in the given directories (those holding the
// manifest), sorted; "(none)" when there are none.
func skillNames(h *Host, manifest string, dirs ...string) []string {
	set := map[string]bool{}
	for _, d := range dirs {
		if h.ReadDir == nil {
			break
		}
		entries, err := h.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			fi, err := h.Stat(filepath.Join(d, e.Name())) // a link to a directory counts
			if err != nil || !fi.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if _, err := h.Stat(filepath.Join(d, e.Name(), manifest)); err == nil {
				set[e.Name()] = true
			}
		}
	}
	if len(set) == 0 {
		return []string{"(none)"}
	}
	return sortedKeys(set)
}
