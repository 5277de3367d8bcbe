package gitrepo

import (
	"path"

	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// checkIndex takes the deleted paths out of the index (only there:
// go-git's Worktree.Remove would also delete a file of that name that
// came back meanwhile), then drops what go-git staged from a file that
// changed while it was read (a folder swapped for a link and back, say):
// an entry of a folder, one without content, or a file where other
// entries need a folder. Committed, the first makes go-git panic and the
// others a broken tree. The commit is then refused, to be made again;
// the dropped paths are staged afresh then, as they are by that time.
func (r *Repo) checkIndex(deleted []string) error {
	idx, err := r.r.Storer.Index()
	if err != nil {
		return err
	}
	gone := map[string]bool{}
	for _, p := range deleted {
		gone[p] = true
	}
	folders := map[string]bool{}
	for _, e := range idx.Entries {
		for dir := path.Dir(e.Name); dir != "."; dir = path.Dir(dir) {
			folders[dir] = true
		}
	}
	kept := idx.Entries[:0]
	var dropped []string
	for _, e := range idx.Entries {
		switch {
		case gone[e.Name]:
		case e.Mode == filemode.Dir || e.Mode == filemode.Empty || e.Hash.IsZero() || folders[e.Name]:
			dropped = append(dropped, e.Name)
		default:
			kept = append(kept, e)
		}
	}
	if len(kept) < len(idx.Entries) {
		idx.Entries, idx.Cache = kept, nil
		if err := r.r.Storer.SetIndex(idx); err != nil {
			return err
		}
	}
	if len(dropped) > 0 {
		return conflict("%s changed while the commit was being made; commit again", dropped[0])
	}
	return nil
}
