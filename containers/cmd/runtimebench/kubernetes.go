package main

import (
	"context"

	"studio/containers/image"
	"studio/containers/kube"
	"studio/internal/kubetest"
)

// kubernetesRuntime starts a cluster with a node on this machine, gives it
// a projects claim on a hostPath volume at work, and returns the
// Kubernetes runtime on it and a function that takes it all down.
func kubernetesRuntime(ctx context.Context, work string) (*kube.Kube, func(), error) {
	cluster, err := kubetest.Start(kubetest.Options{Node: true, Images: []string{image.Reference()}})
	if err != nil {
		return nil, nil, err
	}
	if err := cluster.HostPathClaim(ctx, "studio", "studio-projects", work); err != nil {
		cluster.Stop()
		return nil, nil, err
	}
	k, err := kube.New(kube.Options{Config: cluster.Config, Namespace: "studio", VolumeRoot: work, Instance: "runtimebench"})
	if err != nil {
		cluster.Stop()
		return nil, nil, err
	}
	return k, cluster.Stop, nil
}
