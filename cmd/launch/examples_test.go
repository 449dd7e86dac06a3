package main

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// TestExamples renders each config in examples/ with --dry-run on a host
// that has what the example refers to, and keeps the output next to it
// (examples/NAME.dryrun.txt): an example that stops working fails here.
func TestExamples(t *testing.T) {
	dir := &fstest.MapFile{Mode: os.ModeDir | 0o755}
	tests := []struct {
		name  string
		agent string
		goos  string
		files fstest.MapFS
		env   []string
		// code is the exit status the example must have; 0 but where a
		// backend cannot enforce it yet (and then says so).
		code int
	}{
		{
			name: "mac-podman", agent: "codex", goos: "darwin",
			files: fstest.MapFS{"home/ana/.gitconfig": {}, "home/ana/Documents/reference": dir},
			env:   []string{"OPENAI_API_KEY=sk-secret"},
		},
		{
			name: "biowulf-apptainer", agent: "claude", goos: "linux",
			files: fstest.MapFS{
				"fdb/genome":                      dir,
				"lscratch":                        dir,
				"etc/pki/tls/certs/ca-bundle.crt": {Data: []byte("-----BEGIN CERTIFICATE-----\n")},
				"data/ana/conda/envs/analysis/bin/python": {Data: []byte("\x7fELF")},
			},
			env: []string{"SLURM_JOB_GPUS=0", "CUDA_VISIBLE_DEVICES=0"},
		},
		{
			name: "allowlist-network", agent: "codex", goos: "linux",
			files: fstest.MapFS{"home/ana/proj/scripts": dir},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := filepath.Join("..", "..", "examples", tt.name+".toml")
			text, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			c := goldenCase{
				args:  []string{"--config", "/examples/" + tt.name + ".toml", "--dry-run", tt.agent},
				env:   tt.env,
				files: map[string]string{"examples/" + tt.name + ".toml": string(text)},
			}
			for p, f := range tt.files {
				if f.Mode.IsDir() {
					c.files[p+"/.keep"] = ""
				} else {
					c.files[p] = string(f.Data)
				}
			}
			out, errOut, code := runCaseOn(t, c, tt.goos)
			if code != tt.code {
				t.Errorf("the example does not work as the config it says it is: exit %d, want %d\n%s", code, tt.code, errOut)
			}
			got := "# launch --config examples/" + tt.name + ".toml --dry-run " + tt.agent + "\n# exit " + itoa(code) + "\n# stderr:\n" + prefixLines(errOut, "#   ") + out
			checkGolden(t, filepath.Join("..", "..", "examples", tt.name+".dryrun.txt"), []byte(got))
		})
	}
}
