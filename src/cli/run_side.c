/* sockdrill run: the steps whose outcome differs between sim and real, side by side. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

int sd__run_differing_steps(const struct sd_sc_result *a, const struct sd_sc_result *b, int *idx,
			    int limit, int *diverged)
{
	int n = a->n < b->n ? a->n : b->n, k = 0;
	*diverged = a->n != b->n;
	for (int i = 0; i < n && k < limit; i++) {
		const struct sd_sc_outcome *x = &a->out[i], *y = &b->out[i];
		if (x->line != y->line || x->iteration != y->iteration) {
			*diverged = 1; /* the runs went different ways from here */
			break;
		}
		if (strcmp(x->norm, y->norm))
			idx[k++] = i;
	}
	return k;
}

char *sd__run_side_by_side(const struct sd_sc_result *a, const struct sd_sc_result *b)
{
	int idx[SD_RUN_SIDE_LIMIT], diverged;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	int k = sd__run_differing_steps(a, b, idx, SD_RUN_SIDE_LIMIT, &diverged);
	if (k)
		fprintf(f, "      steps whose outcome differs between sim and real:\n");
	for (int j = 0; j < k; j++) {
		const struct sd_sc_outcome *x = &a->out[idx[j]], *y = &b->out[idx[j]];
		if (x->iteration >= 0)
			fprintf(f, "      line %d, iteration %d: %s\n", x->line, x->iteration,
				x->call);
		else
			fprintf(f, "      line %d: %s\n", x->line, x->call);
		fprintf(f, "          sim:  %-30s real: %s\n", x->got, y->got);
	}
	if (a->n != b->n && k < SD_RUN_SIDE_LIMIT)
		fprintf(f, "      (sim ran %d steps, real %d)\n", a->n, b->n);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
