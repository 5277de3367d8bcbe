// Command probe is the test image of a test node: a static program that
// needs nothing from its image, so a pod with a read-only root file system,
// no shell and any uid can run it.
//
//	probe serve ADDR        answer HTTP on ADDR with "probe <hostname> uid=<uid>"
//	probe id                print "uid=<uid> gid=<gid>"
//	probe write FILE TEXT   write TEXT to FILE
//	probe cat FILE          print FILE
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 2 && args[0] == "serve":
		return serve(args[1])
	case len(args) == 1 && args[0] == "id":
		fmt.Printf("uid=%d gid=%d\n", os.Getuid(), os.Getgid())
		return nil
	case len(args) == 3 && args[0] == "write":
		return os.WriteFile(args[1], []byte(args[2]), 0o644)
	case len(args) == 2 && args[0] == "cat":
		data, err := os.ReadFile(args[1])
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(data)
		return err
	}
	return fmt.Errorf("usage: probe serve ADDR | id | write FILE TEXT | cat FILE")
}

func serve(addr string) error {
	host, _ := os.Hostname()
	fmt.Printf("probe listening on %s\n", addr)
	return http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("probe %s %s\n", r.Method, r.URL.Path)
		fmt.Fprintf(w, "probe %s uid=%d\n", host, os.Getuid())
	}))
}
