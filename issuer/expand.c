/*
 * expand.c: the jobs of a large list. A list with more than
 * CG_LIST_EXPAND_AT items to queue is taken (or confirmed) with one expand
 * job instead of a job per item: the queue locks every record a transaction
 * appends until it commits, and a list of 100,000 rows overflowed the lock
 * table. This job queues the items' issue and invitation jobs,
 * CG_LIST_EXPAND_CHUNK per transaction, then the next expand job for the
 * rest; each step commits with the consumption of its own job, so a step
 * that is undone (a crash, a failed commit) queues nothing and runs again.
 * Never: looks at an item's CSR or decides anything about it.
 */
#include "issuer-int.h"
#include "daemon.h"

#include <stdlib.h>
#include <syslog.h>

/* At most this many items are read in one step, whatever their state: a
 * list that is mostly refused still takes small transactions. */
#define EXPAND_READ_MAX (4 * CG_LIST_EXPAND_CHUNK)

/* "R|i": queue the jobs of request R's items from index i on. */
gboolean
cg_issuer_run_expand(CgIssuer *iss, CgTxn *txn, const CgJob *job, gint64 now,
                     gboolean *temporary, GError **error)
{
	g_auto(GStrv) f = g_strsplit(job->id, "|", 2);
	g_autoptr(CgRequest) req = NULL;
	guint32 i, read = 0, queued = 0;
	char *end = NULL;

	(void)now, (void)temporary;
	if (f[1] == NULL || (i = (guint32)strtoul(f[1], &end, 10)) == 0 || *end != '\0')
		return cg_job_malformed(job, error);
	if ((req = cg_store_request_get(iss->store, txn, f[0], error)) == NULL)
		return FALSE;
	for (; i <= req->n_items && queued < CG_LIST_EXPAND_CHUNK && read < EXPAND_READ_MAX;
	     i++, read++) {
		g_autoptr(CgItem) it = cg_store_item_get(iss->store, txn, req->id, i, error);

		if (it == NULL)
			return FALSE;
		/* Refused, held, or (after a confirmation's release) issued. */
		if (it->status != CG_ITEM_QUEUED && it->status != CG_ITEM_INVITED)
			continue;
		if (!cg_store_item_job_append(txn, req->id, i, it->status == CG_ITEM_INVITED, error))
			return FALSE;
		queued++;
	}
	if (i <= req->n_items && !cg_store_expand_job_append(txn, req->id, i, error))
		return FALSE;
	cg_log(LOG_INFO, "request %s: %u item jobs queued (items to %u of %u)", req->id, queued,
	       i - 1, req->n_items);
	return TRUE;
}
