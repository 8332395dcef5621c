/* assets.c: the built-in page and the optional static folder. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "assets.h"

static int
name_ok(const char *n)
{
	size_t len = strlen(n);

	return len && len < 128 && n[0] != '.' &&
	       strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len;
}

void
assets_free_dir(struct asset_dir *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free((char *)d->files[i].name);
		free((unsigned char *)d->files[i].data);
	}
	free(d->files);
	d->files = NULL;
	d->n = 0;
}

int
assets_load_dir(const char *dir, struct asset_dir *out, char *err, size_t errlen)
{
	DIR *dp;
	struct dirent *de;
	size_t total = 0;

	memset(out, 0, sizeof(*out));
	if (!dir || !*dir)
		return 0;
	dp = opendir(dir);
	if (!dp) {
		snprintf(err, errlen, "http.static_dir %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(dp))) {
		char path[4096];
		struct stat st;
		unsigned char *data;
		struct asset *nf;
		int fd;

		if (!name_ok(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
			close(fd);
			continue;
		}
		if (out->n >= ASSETS_MAX_FILES || total + (size_t)st.st_size > ASSETS_MAX_BYTES) {
			snprintf(err, errlen, "http.static_dir %s: more than %u files or %u bytes", dir,
				 ASSETS_MAX_FILES, ASSETS_MAX_BYTES);
			close(fd);
			goto bad;
		}
		data = malloc((size_t)st.st_size + 1);
		nf = realloc(out->files, (out->n + 1) * sizeof(*nf));
		if (!data || !nf) {
			free(data);
			if (nf)
				out->files = nf;
			close(fd);
			snprintf(err, errlen, "out of memory");
			goto bad;
		}
		out->files = nf;
		if (read(fd, data, (size_t)st.st_size) != st.st_size) {
			snprintf(err, errlen, "http.static_dir: cannot read %s", path);
			free(data);
			close(fd);
			goto bad;
		}
		close(fd);
		nf[out->n].name = strdup(de->d_name);
		nf[out->n].data = data;
		nf[out->n].len = (size_t)st.st_size;
		if (!nf[out->n].name) {
			free(data);
			snprintf(err, errlen, "out of memory");
			goto bad;
		}
		out->n++;
		total += (size_t)st.st_size;
	}
	closedir(dp);
	return 0;
bad:
	closedir(dp);
	assets_free_dir(out);
	return -1;
}

const struct asset *
assets_find(const struct asset_dir *d, const char *path)
{
	const char *name;

	if (path[0] != '/')
		return NULL;
	name = path[1] ? path + 1 : "index.html";
	if (!name_ok(name))
		return NULL;
	for (size_t i = 0; d && i < d->n; i++)
		if (!strcmp(d->files[i].name, name))
			return &d->files[i];
	for (const struct asset *a = web_assets; a->name; a++)
		if (!strcmp(a->name, name))
			return a;
	return NULL;
}

const char *
assets_content_type(const char *name)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".txt", "text/plain; charset=utf-8" },
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(dot, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}
