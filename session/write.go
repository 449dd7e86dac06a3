package session

import (
	"os"
	"path/filepath"
)

// writeFile writes b to file (0600) through a temporary file in the same
// directory and a rename, so that a reader sees the old file or the new
// one, never half of one; the temporary file does not stay behind when
// the write fails. The directory must exist.
func writeFile(file string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), file)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
