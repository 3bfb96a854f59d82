/* SPDX-License-Identifier: MIT */
/*
 * Replay main for fuzz targets built without libFuzzer (gcc, make check):
 * feeds every file named on the command line, or every regular file in a
 * directory named there, to LLVMFuzzerTestOneInput once.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;

	if (!f) {
		perror(path);
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		perror(path);
		fclose(f);
		return -1;
	}
	/* malloc(0) may return NULL: always allocate at least one byte. */
	buf = malloc(len ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "%s: read failed\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir, unsigned *count)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, NULL);
	int rc = 0;

	if (n < 0) {
		perror(dir);
		return -1;
	}
	char **paths = calloc((size_t)n + 1, sizeof(*paths));
	int np = 0;
	for (int i = 0; i < n; i++) {
		struct stat st;
		char *p;
		if (names[i]->d_name[0] != '.' && asprintf(&p, "%s/%s", dir, names[i]->d_name) >= 0) {
			if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
				paths[np++] = p;
			else
				free(p);
		}
		free(names[i]);
	}
	free(names);
	qsort(paths, (size_t)np, sizeof(*paths), cmp_str);
	for (int i = 0; i < np; i++) {
		if (run_file(paths[i]) < 0)
			rc = -1;
		else
			(*count)++;
		free(paths[i]);
	}
	free(paths);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if (run_dir(argv[i], &count) < 0)
				rc = 1;
		} else if (run_file(argv[i]) < 0) {
			rc = 1;
		} else {
			count++;
		}
	}
	if (count == 0) {
		fprintf(stderr, "replay: no inputs\n");
		return 1;
	}
	printf("replay: %u inputs, no crash\n", count);
	return rc;
}
