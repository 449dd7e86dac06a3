package guard

import (
	"path/filepath"
	"strings"
)

// GitSetting is one key = value of a git config file.
type GitSetting struct {
	// Key is section.key, or section.subsection.key; section and key in
	// lower case, as git compares them.
	Key, Value string
	// File is the config file it came from.
	File string
}

// maxIncludeDepth bounds include.path chains, as git does (10).
const maxIncludeDepth = 10

// ReadGitConfig parses the git config file file, and the files its
// include.path and includeIf.*.path name (every condition taken as met:
// launch asks what the file might set, not what it sets here), without
// running git: launch must not run git with a configuration it has not
// checked. read reads a file; home expands "~/". A missing file sets
// nothing; a line that does not parse is skipped.
func ReadGitConfig(read func(string) ([]byte, error), file, home string) []GitSetting {
	var out []GitSetting
	readGitConfig(read, file, home, 0, &out)
	return out
}

func readGitConfig(read func(string) ([]byte, error), file, home string, depth int, out *[]GitSetting) {
	b, err := read(file)
	if err != nil || depth > maxIncludeDepth {
		return
	}
	section := ""
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if strings.HasPrefix(line, "[") {
			end := headerEnd(line)
			if end < 0 {
				continue
			}
			section = sectionName(line[1:end])
			line = strings.TrimSpace(line[end+1:])
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		// A value may go on over lines ending in a backslash.
		for strings.HasSuffix(line, "\\") && !strings.HasSuffix(line, "\\\\") && i+1 < len(lines) {
			i++
			line = line[:len(line)-1] + lines[i]
		}
		k, v, hasValue := strings.Cut(line, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if k == "" || section == "" {
			continue
		}
		val := "true"
		if hasValue {
			val = gitValue(v)
		}
		key := section + "." + k
		*out = append(*out, GitSetting{Key: key, Value: val, File: file})
		if k == "path" && (section == "include" || strings.HasPrefix(section, "includeif.")) {
			p := val
			switch {
			case strings.HasPrefix(p, "~/"):
				p = filepath.Join(home, p[2:])
			case !filepath.IsAbs(p):
				p = filepath.Join(filepath.Dir(file), p)
			}
			readGitConfig(read, p, home, depth+1, out)
		}
	}
}

// headerEnd is the index of the ] that ends a section header, quotes
// respected, or -1.
func headerEnd(line string) int {
	quoted := false
	for i := 1; i < len(line); i++ {
		switch {
		case line[i] == '\\' && quoted:
			i++
		case line[i] == '"':
			quoted = !quoted
		case line[i] == ']' && !quoted:
			return i
		}
	}
	return -1
}

// sectionName is a header's name: [core] is "core", [remote "origin"]
// "remote.origin" (the subsection keeps its case), [a.b] "a.b".
func sectionName(h string) string {
	name, sub, ok := strings.Cut(strings.TrimSpace(h), " ")
	name = strings.ToLower(name)
	if !ok {
		return name
	}
	sub = strings.TrimSpace(sub)
	sub = strings.TrimSuffix(strings.TrimPrefix(sub, "\""), "\"")
	sub = strings.NewReplacer("\\\"", "\"", "\\\\", "\\").Replace(sub)
	return name + "." + sub
}

// gitValue is a raw value with git's quoting, escapes and comments
// applied.
func gitValue(v string) string {
	var b strings.Builder
	quoted := false
	v = strings.TrimSpace(v)
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"':
			quoted = !quoted
		case c == '\\' && i+1 < len(v):
			i++
			switch v[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'b':
				b.WriteByte('\b')
			default:
				b.WriteByte(v[i])
			}
		case (c == '#' || c == ';') && !quoted:
			return strings.TrimSpace(b.String())
		default:
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(b.String())
}

// Values lists the values of key (section.key, lower case) in s, in order.
func Values(s []GitSetting, key string) []string {
	var out []string
	for _, x := range s {
		if x.Key == key {
			out = append(out, x.Value)
		}
	}
	return out
}
