/* sockdrill fuzz --report DIR: index.html, one self-contained page (inline CSS, SVG charts). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "fuzz_report.h"

/* A chart's size and margins, in SVG units. */
enum { CW = 760, CH = 230, ML = 70, MR = 20, MT = 30, MB = 46 };

static const char page_css[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}"
	"h1{font-size:20px}table{border-collapse:collapse;width:100%}"
	"td,th{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}"
	"th{background:#f3f3f3}code{font:12px monospace;word-break:break-all}"
	"svg.chart{display:block;margin:8px 0 18px;background:#fff;border:1px solid #ddd}"
	".axis{stroke:#444;stroke-width:1}.grid{stroke:#eee;stroke-width:1}"
	".tick{font:11px sans-serif;fill:#444}.label{font:12px sans-serif;fill:#222}"
	".series{fill:none;stroke:#1f6fb2;stroke-width:2}"
	".crash{stroke:#c62828;stroke-width:1.5;stroke-dasharray:4 3}"
	".summary td:first-child{width:180px;color:#555}.none{color:#777}";

/* A tick step of 1, 2 or 5 times a power of ten (from `least` on) giving at most five ticks up
 * to max. */
static double nice_step(double max, double least)
{
	for (double mag = least;; mag *= 10)
		for (int i = 0; i < 3; i++) {
			static const double m[3] = {1, 2, 5};
			if (m[i] * mag * 5 >= max)
				return m[i] * mag;
		}
}

static void tick_text(FILE *f, double v, double step)
{
	if (step >= 1)
		fprintf(f, "%.0f", v);
	else
		fprintf(f, "%g", v);
}

static long long value(const struct report_point *p, int which)
{
	return which == 0 ? p->rate : which == 1 ? p->cov : p->corpus;
}

/* The axes of a chart: x from 0 to xmax s, y from 0 to ymax, ticks every xs and ys. */
static void axes(FILE *f, const char *ylabel, double xmax, double xs, double ymax, double ys)
{
	const int pw = CW - ML - MR, ph = CH - MT - MB;
	for (double y = 0; y <= ymax + ys / 2; y += ys) {
		double py = MT + ph - y / ymax * ph;
		fprintf(f, "<line class=\"grid\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>", ML,
			ML + pw, py, py);
		fprintf(f, "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", ML - 6,
			py + 4);
		tick_text(f, y, ys);
		fputs("</text>", f);
	}
	for (double x = 0; x <= xmax + xs / 2; x += xs) {
		double px = ML + x / xmax * pw;
		fprintf(f, "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\"/>", px,
			px, MT + ph, MT + ph + 5);
		fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", px,
			MT + ph + 18);
		tick_text(f, x, xs);
		fputs("</text>", f);
	}
	fprintf(f, "<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\"/>", ML, ML, MT,
		MT + ph);
	fprintf(f, "<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\"/>", ML, ML + pw,
		MT + ph, MT + ph);
	fprintf(f,
		"<text class=\"label\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">seconds since "
		"the start</text>",
		ML + pw / 2, CH - 8);
	fprintf(f, "<text class=\"label\" x=\"%d\" y=\"18\">%s</text>", ML, ylabel);
}

/* One chart: figure `which` (0 exec/s, 1 coverage, 2 corpus) of p[0..n) over time, and each
 * crash a vertical mark linked to its row. */
static void chart(FILE *f, const struct sd__fuzz_report *r, const struct report_point *p, size_t n,
		  int which, const char *id, const char *ylabel)
{
	const int pw = CW - ML - MR, ph = CH - MT - MB;
	double tmax = r->elapsed, vmax = 0;
	for (size_t i = 0; i < n; i++) {
		tmax = p[i].t > tmax ? p[i].t : tmax;
		vmax = (double)value(&p[i], which) > vmax ? (double)value(&p[i], which) : vmax;
	}
	for (size_t i = 0; i < r->ncr; i++)
		tmax = r->cr[i].t > tmax ? r->cr[i].t : tmax;
	double xs = nice_step(tmax > 0 ? tmax : 1, 0.01), ys = nice_step(vmax > 0 ? vmax : 1, 1);
	double xmax = xs, ymax = ys;
	while (xmax < tmax)
		xmax += xs;
	while (ymax < vmax)
		ymax += ys;
	fprintf(f,
		"<svg class=\"chart\" id=\"%s\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
		"role=\"img\" aria-label=\"%s over time\">",
		id, CW, CH, CW, CH, ylabel);
	axes(f, ylabel, xmax, xs, ymax, ys);
	fputs("<polyline class=\"series\" points=\"", f);
	for (size_t i = 0, k = 0; i < n; i++) {
		long long v = value(&p[i], which);
		if (v < 0 || p[i].t < 0)
			continue;
		fprintf(f, "%s%.1f,%.1f", k++ ? " " : "", ML + p[i].t / xmax * pw,
			MT + ph - (double)v / ymax * ph);
	}
	fputs("\"/>", f);
	for (size_t i = 0; i < r->ncr; i++) {
		double px = ML + (r->cr[i].t > 0 ? r->cr[i].t : 0) / xmax * pw;
		fprintf(f,
			"<a href=\"#crash-%zu\"><line class=\"crash\" x1=\"%.1f\" x2=\"%.1f\" "
			"y1=\"%d\" y2=\"%d\"><title>crash %zu at %.1f s</title></line></a>",
			i + 1, px, px, MT, MT + ph, i + 1, r->cr[i].t);
	}
	fputs("</svg>\n", f);
}

/* The last figures the engine told, for the summary. */
static void summary(FILE *f, const struct sd__fuzz_report *r, const struct report_point *p,
		    size_t n)
{
	const struct report_point *last = n ? &p[n - 1] : NULL;
	fputs("<table class=\"summary\">", f);
	fputs("<tr><td>status</td><td>", f);
	sd__xml_text(f, r->status);
	fprintf(f, "</td></tr><tr><td>time</td><td>%.1f s of %llu s</td></tr>", r->elapsed,
		(unsigned long long)r->c.secs);
	if (last)
		fprintf(f,
			"<tr><td>last figures</td><td>%lld execs, %lld exec/s, %s %lld, "
			"corpus %lld</td></tr>",
			last->execs, last->rate, r->afl ? "edges" : "cov", last->cov, last->corpus);
	fprintf(f, "<tr><td>crashes</td><td>%zu</td></tr>", r->ncr);
	fputs("<tr><td>data</td><td><a href=\"series.json\">series.json</a> (every point and "
	      "crash)</td></tr></table>\n",
	      f);
}

static void crash_table(FILE *f, const struct sd__fuzz_report *r)
{
	if (!r->ncr) {
		fputs("<p class=\"none\" id=\"no-crashes\">No crash so far.</p>\n", f);
		return;
	}
	fputs("<table id=\"crashes\"><tr><th>#</th><th>time</th><th>kind</th><th>file</th>"
	      "<th>reproduce</th><th>timeline</th></tr>\n",
	      f);
	for (size_t i = 0; i < r->ncr; i++) {
		const struct report_crash *c = &r->cr[i];
		fprintf(f,
			"<tr class=\"crash-row\" id=\"crash-%zu\"><td>%zu</td><td>%.1f s</td><td>",
			i + 1, i + 1, c->t);
		sd__xml_text(f, c->kind ? c->kind : "(replayed at the end)");
		fputs("</td><td><code class=\"file\">", f);
		sd__xml_text(f, c->path);
		fputs("</code></td><td><code class=\"reproduce\">", f);
		sd__xml_text(f, c->cmd);
		fputs("</code></td><td>", f);
		if (c->timeline) {
			fputs("<a class=\"timeline\" href=\"", f);
			sd__xml_text(f, c->timeline);
			fputs("\">timeline</a>", f);
		} else {
			fputs("<span class=\"none\">-</span>", f);
		}
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
}

void sd__fuzz_report_html(FILE *f, const struct sd__fuzz_report *r, const struct report_point *p,
			  size_t n)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n", f);
	if (!r->done) /* a campaign still running: the page follows it */
		fputs("<meta http-equiv=\"refresh\" content=\"10\">\n", f);
	fputs("<title>sockdrill fuzz: ", f);
	sd__xml_text(f, r->c.name);
	fprintf(f,
		" on %s</title>\n<style>%s</style></head><body>\n<h1>sockdrill fuzz: ", r->c.engine,
		page_css);
	sd__xml_text(f, r->c.name);
	fprintf(f, " on %s</h1>\n", r->c.engine);
	summary(f, r, p, n);
	fputs("<h2>Over time</h2>\n<p>From the engine's own figures (", f);
	fputs(r->afl ? "AFL++'s main instance: the StatsD figures it sends each second and its "
		       "plot_data rows"
		     : "libFuzzer's status lines",
	      f);
	fputs("); a dashed red line is a crash.</p>\n", f);
	chart(f, r, p, n, 0, "chart-execs", "executions per second");
	chart(f, r, p, n, 1, "chart-coverage",
	      r->afl ? "coverage (edges found)" : "coverage (libFuzzer cov)");
	chart(f, r, p, n, 2, "chart-corpus", "corpus size (inputs)");
	fputs("<h2>Crashes</h2>\n", f);
	crash_table(f, r);
	fputs("</body></html>\n", f);
}
