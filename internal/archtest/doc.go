// Package archtest holds no code: its tests keep the module's import rules
// and function sizes, over every package, so a change that breaks the
// layout fails at once.
package archtest
