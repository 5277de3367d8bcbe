// Package deploy holds the files that run studio elsewhere: kubernetes/ is a
// kustomize base (with overlays in kubernetes/examples/); Dockerfile and
// docker-compose.yml are the image and the one-server installation with
// Traefik (README.md). Its tests render every kustomization and apply the
// result to a real API server, with the CustomResourceDefinitions of Traefik
// and cert-manager (testdata/crds) that the Traefik overlays use, load the
// compose files with the Compose specification's loader, and build and run
// the images.
package deploy
