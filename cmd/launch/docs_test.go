package main

import (
	"context"
	"path/filepath"
	"testing"

	docs "github.com/urfave/cli-docs/v3"
	"github.com/urfave/cli/v3"

	"github.com/launchcli/launch/internal/iostreams"
)

// TestCLIDocs keeps docs/cli.md generated from the CLI definition: a flag
// added or changed without make docs fails here.
func TestCLIDocs(t *testing.T) {
	app := newApp(iostreams.Streams{}, nil, func(context.Context, *flagState, *cli.Command) error { return nil })
	md, err := docs.ToMarkdown(app)
	if err != nil {
		t.Fatal(err)
	}
	header := "<!-- Generated from the CLI definition by `make docs`; do not edit. -->\n\n"
	checkGolden(t, filepath.Join("..", "..", "docs", "cli.md"), []byte(header+md))
}

// TestManPage keeps docs/launch.1 generated from the CLI definition, as
// docs/cli.md is (make man).
func TestManPage(t *testing.T) {
	app := newApp(iostreams.Streams{}, nil, func(context.Context, *flagState, *cli.Command) error { return nil })
	man, err := docs.ToManWithSection(app, 1)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, filepath.Join("..", "..", "docs", "launch.1"), []byte(man))
}
