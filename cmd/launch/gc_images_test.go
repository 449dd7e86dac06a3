package main

import (
	"testing"
	"testing/fstest"
)

// TestConfiguredImages: the references gc --images keeps are those of the
// built-in catalogue, the user's config and the current directory's
// .launch.toml, normalised as the engines read them.
func TestConfiguredImages(t *testing.T) {
	fsys := fstest.MapFS{
		"home/ana/.config/launch/config.toml": {Data: []byte("image = \"busybox\"\n[image_defaults]\noci = \"registry.example/me/llm\"\n[agents.mine]\ncommand = [\"x\"]\ntag = \"mine-1\"\n")},
		"home/ana/proj/.launch.toml":          {Data: []byte("image = \"127.0.0.1:5000/proj/img\"\ntag = \"v2\"\n")},
	}
	got, err := configuredImages(fakeHost(fsys, nil, false))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ghcr.io/nichd-bspc/llm:codex-latest",   // the catalogue's default, an agent's tag
		"ghcr.io/nichd-bspc/llm:mine-1",         // the catalogue's default, the user's agent's tag
		"registry.example/me/llm:claude-latest", // the user's default, a catalogue agent's tag
		"registry.example/me/llm:v2",            // the user's default, the project's top-level tag
		"docker.io/library/busybox:latest",      // the user's image, normalised
		"127.0.0.1:5000/proj/img:v2",            // the project's image and tag
	} {
		if !got[want] {
			t.Errorf("configured images lack %s; got %v", want, got)
		}
	}
	_, sif, err := configuredRefs(fakeHost(fsys, nil, false))
	if err != nil {
		t.Fatal(err)
	}
	if !sif["oras://ghcr.io/nichd-bspc/llm-sif:codex-latest"] || !sif["oras://ghcr.io/nichd-bspc/llm-sif:mine-1"] {
		t.Errorf("configured SIF references lack the catalogue's default with the agents' tags: %v", sif)
	}
	if got["docker.io/library/alpine:latest"] {
		t.Errorf("an image no config names is kept")
	}
	for ref, want := range map[string]string{
		"busybox":                       "docker.io/library/busybox:latest",
		"127.0.0.1:5000/a/b":            "127.0.0.1:5000/a/b:latest",
		"localhost/launch-test/x:1":     "localhost/launch-test/x:1",
		"ghcr.io/o/i@sha256:" + hex64(): "ghcr.io/o/i@sha256:" + hex64(),
		"Not A Ref":                     "Not A Ref",
	} {
		if n := normalRef(ref); n != want {
			t.Errorf("normalRef(%q) = %q, want %q", ref, n, want)
		}
	}
}

func hex64() string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = "0123456789abcdef"[i%16]
	}
	return string(b)
}
