package storage

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/aks-edw/aks-edw/internal/retry"
)

// CheckResult is the outcome of checking access to one resource.
type CheckResult struct {
	// Kind is "queue", "poison queue" or "table".
	Kind string
	Name string
	URL  string
	// Detail is a short fact on success, for example the approximate message count.
	Detail string
	Err    error
}

// Check reads each resource once with the configured identity, retrying transient failures
// (403 while role assignments propagate included) under p: the queue's and the poison queue's
// properties, and one entity of the table when there is one.
func (c *Clients) Check(ctx context.Context, p retry.Policy) []CheckResult {
	results := []CheckResult{
		c.checkQueue(ctx, p, "queue", c.names.QueueName, c.Queue),
		c.checkQueue(ctx, p, "poison queue", c.names.PoisonQueueName, c.Poison),
	}
	if c.Table != nil {
		results = append(results, c.checkTable(ctx, p))
	}
	return results
}

func (c *Clients) checkQueue(ctx context.Context, p retry.Policy, kind, name string, queue *azqueue.QueueClient) CheckResult {
	result := CheckResult{Kind: kind, Name: name, URL: RedactURL(queue.URL())}
	err := p.Do(ctx, "get "+kind+" properties", func(ctx context.Context) error {
		props, err := queue.GetProperties(ctx, nil)
		if err == nil && props.ApproximateMessagesCount != nil {
			result.Detail = fmt.Sprintf("about %d messages", *props.ApproximateMessagesCount)
		}
		return err
	})
	result.Err = c.explain(err, kind, name)
	return result
}

func (c *Clients) checkTable(ctx context.Context, p retry.Policy) CheckResult {
	name := c.names.TableName
	result := CheckResult{Kind: "table", Name: name, URL: c.TableEndpoint + "/" + name}
	top := int32(1)
	err := p.Do(ctx, "read table", func(ctx context.Context) error {
		pager := c.Table.NewListEntitiesPager(&aztables.ListEntitiesOptions{Top: &top, Select: stringPointer("RowKey")})
		_, err := pager.NextPage(ctx)
		return err
	})
	if err == nil {
		result.Detail = "readable"
	}
	result.Err = c.explain(err, "table", name)
	return result
}

// explain adds what to do to the errors a check commonly meets. For HTTP 403 the fix depends
// on how the clients authenticate: a shared key or SAS is wrong or lacks a permission, while
// an identity lacks a role.
func (c *Clients) explain(err error, kind, name string) error {
	if err == nil {
		return nil
	}
	switch retry.StatusCode(err) {
	case 403:
		return fmt.Errorf("%s %s: access denied (%s): %s", kind, name, retry.Describe(err), c.forbiddenFix(kind))
	case 404:
		return fmt.Errorf("%s %s not found (%s): create it, or fix the name", kind, name, retry.Describe(err))
	}
	return fmt.Errorf("%s %s: %s", kind, name, retry.Describe(err))
}

// forbiddenFix returns the fix for HTTP 403 on a resource of kind.
func (c *Clients) forbiddenFix(kind string) string {
	if c.sharedKey {
		return "the AccountKey in AZURE_STORAGE_CONNECTION_STRING is wrong: copy the key of this storage account again"
	}
	if c.sas {
		return "the shared access signature in AZURE_STORAGE_CONNECTION_STRING is invalid, expired or lacks a permission: " +
			"issue one for the queue and table services with read, add, update, process and delete permissions"
	}
	// NOTE: these are the least-privilege roles that the project's Bicep assigns to the
	// consumer's identity, one set per resource.
	roles := map[string]string{
		"queue":        "Storage Queue Data Message Processor and Storage Queue Data Reader on the queue",
		"poison queue": "Storage Queue Data Message Sender and Storage Queue Data Reader on the poison queue",
		"table":        "Storage Table Data Contributor on the table",
	}[kind]
	return "give the identity the " + roles + ", then allow a few minutes for the role assignment to take effect"
}

func stringPointer(s string) *string { return &s }
