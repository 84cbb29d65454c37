/* sockdrill scenarios: the run's variables and started calls (hash tables keyed by symbol and
 * index), the text they hold, templates filled in from them, and the send pattern. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "sc_internal.h"

static struct slot *slot_of(int64_t *v)
{
	return (struct slot *)((char *)v - offsetof(struct slot, v));
}

int sd__sc_grow(void **p, int *cap, int n, size_t size)
{
	if (n < *cap)
		return 0;
	int ncap = *cap ? *cap * 2 : 16;
	void *g = realloc(*p, (size_t)ncap * size);
	if (!g)
		return -1;
	*p = g;
	*cap = ncap;
	return 0;
}

static size_t slot_hash(int32_t name, int indexed, int64_t index)
{
	return (size_t)sd__mix((uint64_t)index * SD__GOLDEN ^ ((uint64_t)(uint32_t)name << 1) ^
			       (uint64_t)indexed);
}

static int table_grow(struct run *R, struct table *t)
{
	struct table old = *t;
	size_t cap = old.cap ? old.cap * 2 : 64;
	if (!(t->s = calloc(cap, sizeof *t->s))) {
		*t = old;
		return -1;
	}
	t->cap = cap;
	t->n = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.s[i].used) {
			int64_t *v = sd__sc_table_find(R, t, old.s[i].name, old.s[i].used == 2,
						       old.s[i].index, 1);
			*v = old.s[i].v;
			slot_of(v)->str = old.s[i].str;
			slot_of(v)->slen = old.s[i].slen;
		}
	free(old.s);
	return 0;
}

/* The value of (name, index): found, or added as 0 when create is set; NULL when it is not
 * there (or there is no memory for it). */
int64_t *sd__sc_table_find(struct run *R, struct table *t, int32_t name, int indexed, int64_t index,
			   int create)
{
	if (create && (t->n + 1) * 4 > t->cap * 3 && table_grow(R, t) < 0)
		return NULL;
	if (!t->cap)
		return NULL;
	indexed = indexed != 0;
	for (size_t i = slot_hash(name, indexed, index) & (t->cap - 1);;
	     i = (i + 1) & (t->cap - 1)) {
		struct slot *s = &t->s[i];
		R->res->cost.probes++;
		if (!s->used) {
			if (!create)
				return NULL;
			*s = (struct slot){.index = index, .name = name, .used = 1 + indexed};
			t->n++;
			return &s->v;
		}
		if (s->name == name && s->used == 1 + indexed && s->index == index)
			return &s->v;
	}
}

const char *sd__sc_name_of(const struct run *R, int32_t sym) { return R->sc->names[sym]; }

/* A reference's name for messages: "C" or "C[3]". */
void sd__sc_key_text(const struct run *R, const struct sc_ref *r, int indexed, int64_t index,
		     char *out, size_t size)
{
	if (indexed)
		snprintf(out, size, "%s[%lld]", sd__sc_name_of(R, r->name), (long long)index);
	else
		snprintf(out, size, "%s", sd__sc_name_of(R, r->name));
}

/* The key of a reference, its index worked out: 0, or -1 with *why set. */
int sd__sc_ref_key(struct run *R, const struct sc_ref *r, int *indexed, int64_t *index, char *why,
		   size_t wl)
{
	*indexed = r->ix == IX_NUM || r->ix == IX_I || r->ix == IX_VAR;
	*index = 0;
	if (r->ix == IX_NUM) {
		*index = r->index;
	} else if (r->ix == IX_I) {
		if (R->iter < 0) {
			snprintf(why, wl, "$i used outside repeat");
			return -1;
		}
		*index = R->iter;
	} else if (r->ix == IX_VAR) {
		int64_t *v = sd__sc_table_find(R, &R->vars, (int32_t)r->index, 0, 0, 0);
		if (!v) {
			snprintf(why, wl, "unknown variable $%s",
				 sd__sc_name_of(R, (int32_t)r->index));
			return -1;
		}
		*index = *v;
	}
	return 0;
}

int sd__sc_ref_value(struct run *R, const struct sc_ref *r, int64_t *out, char *why, size_t wl)
{
	int indexed;
	int64_t index;
	if (r->ix == IX_ITER) {
		if (R->iter < 0) {
			snprintf(why, wl, "$i used outside repeat");
			return -1;
		}
		*out = R->iter;
		return 0;
	}
	if (sd__sc_ref_key(R, r, &indexed, &index, why, wl) < 0)
		return -1;
	int64_t *v = sd__sc_table_find(R, &R->vars, r->name, indexed, index, 0);
	if (!v) {
		char key[64];
		sd__sc_key_text(R, r, indexed, index, key, sizeof key);
		snprintf(why, wl, "unknown variable $%s", key);
		return -1;
	}
	*out = *v;
	return 0;
}

/* A variable's text: what it holds (received bytes), or its number in decimal (into num). */
int sd__sc_ref_text(struct run *R, const struct sc_ref *r, const unsigned char **p, size_t *n,
		    char num[24], char *why, size_t wl)
{
	int indexed;
	int64_t index, *v, x;
	if (r->ix != IX_ITER && sd__sc_ref_key(R, r, &indexed, &index, why, wl) == 0 &&
	    (v = sd__sc_table_find(R, &R->vars, r->name, indexed, index, 0)) && slot_of(v)->str) {
		*p = slot_of(v)->str;
		*n = slot_of(v)->slen;
		return 0;
	}
	if (sd__sc_ref_value(R, r, &x, why, wl) < 0)
		return -1;
	*n = (size_t)snprintf(num, 24, "%lld", (long long)x);
	*p = (const unsigned char *)num;
	return 0;
}

/* A template (a string naming variables) filled in: a new buffer into *out, or -1 with why. */
int sd__sc_expand(struct run *R, const unsigned char *t, size_t n, unsigned char **out,
		  size_t *outlen, char *why, size_t wl)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	for (int pass = 0; pass < 2; pass++) {
		size_t o = 0;
		for (size_t i = 0; i < n; i++) {
			const unsigned char *p = t + i;
			size_t k = 1;
			char num[24];
			if (t[i] == SC_TPL_MARK && i + 1 < n && t[i + 1] == SC_TPL_REF) {
				struct sc_ref r;
				memcpy(&r, t + i + 2, sizeof r);
				if (sd__sc_ref_text(R, &r, &p, &k, num, why, wl) < 0) {
					free(buf);
					return -1;
				}
				i += 1 + sizeof r;
			} else if (t[i] == SC_TPL_MARK) {
				i++; /* a literal mark byte, doubled */
			}
			if (pass && k)
				memcpy(buf + o, p, k);
			o += k;
			if (o > SC_MAX_IO) {
				snprintf(why, wl, "the string filled in is longer than %d bytes",
					 SC_MAX_IO);
				return -1;
			}
		}
		if (!pass && !(buf = malloc(o ? o : 1))) {
			snprintf(why, wl, "out of memory");
			return -1;
		}
		len = o;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

/* A variable takes received bytes as its text (at most SC_MAX_CAPTURE of them); NULL clears. */
int sd__sc_set_text(int64_t *v, const unsigned char *d, size_t n)
{
	struct slot *s = slot_of(v);
	free(s->str);
	s->str = NULL;
	s->slen = 0;
	if (!d)
		return 0;
	if (n > SC_MAX_CAPTURE)
		n = SC_MAX_CAPTURE;
	if (!(s->str = malloc(n ? n : 1)))
		return -1;
	memcpy(s->str, d, n);
	s->slen = (uint32_t)n;
	return 0;
}

/* The first n bytes of the pattern; made longer (at least doubled) only when n needs it. */
const unsigned char *sd__sc_pattern(struct run *R, size_t n)
{
	if (n <= R->patlen && R->pat)
		return R->pat;
	size_t len = n > 2 * R->patlen ? n : 2 * R->patlen;
	if (len > SC_MAX_IO)
		len = SC_MAX_IO;
	unsigned char *p = malloc(len + 1);
	if (!p || sd__sc_grow((void **)&R->oldpats, &R->capoldpats, R->noldpats,
			      sizeof *R->oldpats) < 0) {
		free(p);
		return NULL;
	}
	for (size_t k = 0; k < len; k++)
		p[k] = sc_pattern_byte(k);
	R->res->cost.pattern_bytes += (long)len;
	if (R->pat)
		R->oldpats[R->noldpats++] = R->pat;
	R->pat = p;
	R->patlen = len;
	return p;
}
