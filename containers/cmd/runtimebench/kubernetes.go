package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

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
	api := cluster.Client
	size := corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}
	_, err = api.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "studio"}}, metav1.CreateOptions{})
	if err == nil {
		_, err = api.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "studio-projects"},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      size,
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: work}},
				ClaimRef:                      &corev1.ObjectReference{Namespace: "studio", Name: "studio-projects"},
			},
		}, metav1.CreateOptions{})
	}
	if err == nil {
		_, err = api.CoreV1().PersistentVolumeClaims("studio").Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "studio-projects", Namespace: "studio"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
				StorageClassName: ptr.To(""),
				VolumeName:       "studio-projects",
				Resources:        corev1.VolumeResourceRequirements{Requests: size},
			},
		}, metav1.CreateOptions{})
	}
	for deadline := time.Now().Add(30 * time.Second); err == nil; time.Sleep(100 * time.Millisecond) {
		c, gerr := api.CoreV1().PersistentVolumeClaims("studio").Get(ctx, "studio-projects", metav1.GetOptions{})
		if gerr == nil && c.Status.Phase == corev1.ClaimBound {
			break
		}
		if time.Now().After(deadline) {
			err = fmt.Errorf("the projects claim was not bound within 30s")
		}
	}
	if err != nil {
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
