/*
 * A deterministic mutation driver for LLVMFuzzerTestOneInput(), used when
 * clang's libFuzzer is not available; built with ASan and UBSan so a bad
 * access aborts the run. It understands the subset of libFuzzer's command
 * line the tests and benches use, so either binary runs the same way:
 *
 *   FUZZER [-runs=N] [-seed=S] [-max_len=L] [-max_total_time=SEC] [-OPT=..]
 *          CORPUS_DIR_OR_FILE...
 *
 * Every corpus file is run as it is, then N mutants of randomly chosen
 * corpus inputs (bit flips, byte sets, inserts, deletes, duplicated and
 * spliced chunks, interesting values). Unknown -options are ignored.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	uint8_t *data;
	size_t len;
};

static struct input *corpus;
static size_t ncorpus, capcorpus;
static uint64_t rng;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void add_file(const char *path, size_t max_len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return;
	uint8_t *buf = malloc(max_len ? max_len : 1);
	size_t n = buf ? fread(buf, 1, max_len, f) : 0;
	fclose(f);
	if (!buf)
		return;
	if (ncorpus == capcorpus) {
		capcorpus = capcorpus ? capcorpus * 2 : 64;
		corpus = realloc(corpus, capcorpus * sizeof(*corpus));
		if (!corpus)
			exit(1);
	}
	corpus[ncorpus++] = (struct input){buf, n};
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_path(const char *path, size_t max_len)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		add_file(path, max_len);
		return;
	}
	DIR *d = opendir(path);
	char *names[4096];
	size_t n = 0;
	if (!d)
		return;
	for (struct dirent *de; n < 4096 && (de = readdir(d));)
		if (de->d_name[0] != '.')
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp); /* same order on every machine */
	for (size_t i = 0; i < n; i++) {
		char full[4096];
		snprintf(full, sizeof(full), "%s/%s", path, names[i]);
		add_file(full, max_len);
		free(names[i]);
	}
}

static size_t mutate(uint8_t *buf, size_t len, size_t max_len)
{
	static const uint8_t interesting[] = {0,   1,	0x7f, 0x80, 0xff, '\r', '\n', ' ',
					      ':', '/', '%',  '0',  '9',  '?',	'&',  '='};
	int steps = 1 + (int)(next() % 4);
	for (int s = 0; s < steps; s++) {
		size_t pos = len ? next() % len : 0;
		switch (next() % 7) {
		case 0: /* flip a bit */
			if (len)
				buf[pos] ^= (uint8_t)(1u << (next() % 8));
			break;
		case 1: /* set a byte */
			if (len)
				buf[pos] = (uint8_t)next();
			break;
		case 2: /* an interesting byte */
			if (len)
				buf[pos] = interesting[next() % sizeof(interesting)];
			break;
		case 3: /* insert a byte */
			if (len < max_len) {
				memmove(buf + pos + 1, buf + pos, len - pos);
				buf[pos] = interesting[next() % sizeof(interesting)];
				len++;
			}
			break;
		case 4: { /* delete a run */
			size_t n = len - pos > 0 ? 1 + next() % (len - pos) % 16 : 0;
			memmove(buf + pos, buf + pos + n, len - pos - n);
			len -= n;
			break;
		}
		case 5: { /* duplicate a chunk */
			size_t n = 1 + next() % 32;
			if (len && pos + n <= len && len + n <= max_len) {
				memmove(buf + pos + n, buf + pos, len - pos);
				len += n;
			}
			break;
		}
		default: { /* splice in a piece of another input */
			const struct input *o = &corpus[next() % ncorpus];
			if (o->len && len) {
				size_t from = next() % o->len, n = 1 + next() % 64;
				if (n > o->len - from)
					n = o->len - from;
				if (n > len - pos)
					n = len - pos;
				memcpy(buf + pos, o->data + from, n);
			}
			break;
		}
		}
	}
	return len;
}

int main(int argc, char **argv)
{
	long runs = 10000;
	size_t max_len = 4096;
	long max_time = 0;
	rng = 0x243f6a8885a308d3ull;

	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "-runs=", 6))
			runs = atol(argv[i] + 6);
		else if (!strncmp(argv[i], "-seed=", 6))
			rng ^= (uint64_t)atoll(argv[i] + 6) * 0x9e3779b97f4a7c15ull;
		else if (!strncmp(argv[i], "-max_len=", 9))
			max_len = (size_t)atol(argv[i] + 9);
		else if (!strncmp(argv[i], "-max_total_time=", 16))
			max_time = atol(argv[i] + 16);
	}
	for (int i = 1; i < argc; i++)
		if (argv[i][0] != '-')
			add_path(argv[i], max_len);
	if (ncorpus == 0)
		add_file("/dev/null", max_len);
	if (ncorpus == 0) {
		corpus = calloc(1, sizeof(*corpus));
		corpus[0].data = malloc(1);
		ncorpus = 1;
	}
	for (size_t i = 0; i < ncorpus; i++)
		LLVMFuzzerTestOneInput(corpus[i].data, corpus[i].len);
	uint8_t *buf = malloc(max_len + 1);
	time_t start = time(NULL);
	long done = 0;
	for (; done < runs || runs < 0; done++) {
		if (max_time && (done & 1023) == 0 && time(NULL) - start >= max_time)
			break;
		const struct input *in = &corpus[next() % ncorpus];
		size_t len = in->len > max_len ? max_len : in->len;
		memcpy(buf, in->data, len);
		len = mutate(buf, len, max_len);
		/* a copy of exactly len bytes, so ASan sees reads past the end */
		uint8_t *exact = malloc(len ? len : 1);
		memcpy(exact, buf, len);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	free(buf);
	for (size_t i = 0; i < ncorpus; i++)
		free(corpus[i].data);
	free(corpus);
	double secs = difftime(time(NULL), start);
	printf("fuzz_driver: %zu corpus inputs, %ld mutants, %.0f s, %.0f exec/s\n", ncorpus, done,
	       secs, secs > 0 ? done / secs : (double)done);
	return 0;
}
