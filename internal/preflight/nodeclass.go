package preflight

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// checkNodeClass checks that the kind named by the NodePool's nodeClassRef is served and, unless
// the chart renders it, that the named node class exists. Karpenter launches no node for a
// NodePool whose node class is missing, although the NodePool itself applies fine.
func checkNodeClass(ctx context.Context, c *clients, config Config) []Result {
	ref := config.NodeClassRef
	gk := schema.GroupKind{Group: ref.Group, Kind: ref.Kind}
	describe := fmt.Sprintf("%s %s (nodePool.nodeClassRef)", ref.Kind, ref.Name)

	resource, found, err := findServedResource(c, gk)
	if err != nil {
		return []Result{{
			Check:   "node-class",
			Status:  Fail,
			Message: fmt.Sprintf("discovery of API group %s for %s failed: %v", ref.Group, describe, err),
			Fix:     "check that the API server is healthy and retry",
		}}
	}
	if !found {
		return []Result{{
			Check:   "node-class",
			Status:  Fail,
			Message: fmt.Sprintf("the cluster does not serve %s: CustomResourceDefinition %s not found", describe, crdName(gk)),
			Fix:     providerFix(gk, config),
		}}
	}

	if ref.Rendered {
		return []Result{{Check: "node-class", Status: Pass, Message: fmt.Sprintf("%s is served and the chart creates it", describe)}}
	}

	_, err = c.dynamic.Resource(resource).Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return []Result{{
			Check:   "node-class",
			Status:  Warn,
			Message: fmt.Sprintf("%s not found: the NodePool applies, but Karpenter launches no node for it", describe),
			Fix:     fmt.Sprintf("create %s %s, or set nodePool.nodeClassRef.name to an existing one (kubectl get %s)", ref.Kind, ref.Name, resource.GroupResource()),
		}}
	case err != nil:
		return []Result{{
			Check:   "node-class",
			Status:  Warn,
			Message: fmt.Sprintf("could not read %s: %v", describe, err),
			Fix:     fmt.Sprintf("check that %s %s exists: kubectl get %s %s", ref.Kind, ref.Name, resource.GroupResource(), ref.Name),
		}}
	}
	return []Result{{Check: "node-class", Status: Pass, Message: fmt.Sprintf("%s exists", describe)}}
}

// findServedResource returns the resource that serves gk in any served version of its group,
// preferring the group's preferred version.
func findServedResource(c *clients, gk schema.GroupKind) (schema.GroupVersionResource, bool, error) {
	groups, err := c.discovery.ServerGroups()
	if err != nil {
		return schema.GroupVersionResource{}, false, err
	}
	for _, group := range groups.Groups {
		if group.Name != gk.Group {
			continue
		}
		versions := []string{group.PreferredVersion.Version}
		for _, version := range group.Versions {
			if version.Version != group.PreferredVersion.Version {
				versions = append(versions, version.Version)
			}
		}
		for _, version := range versions {
			gv := schema.GroupVersion{Group: gk.Group, Version: version}
			list, err := c.discovery.ServerResourcesForGroupVersion(gv.String())
			if err != nil {
				return schema.GroupVersionResource{}, false, err
			}
			for _, resource := range list.APIResources {
				if resource.Kind == gk.Kind && !strings.Contains(resource.Name, "/") {
					return gv.WithResource(resource.Name), true, nil
				}
			}
		}
	}
	return schema.GroupVersionResource{}, false, nil
}
