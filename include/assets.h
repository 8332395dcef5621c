/* assets.h: the files the relay serves over HTTP (the live page).
 *
 * The page built into the binary (web/, embedded at build time) works with
 * no files on disk; http.static_dir may add or override files. Files from
 * static_dir are read into memory at start and on reload (bounded), so
 * serving never touches the disk from the event loop. */
#ifndef UWRELAY_ASSETS_H
#define UWRELAY_ASSETS_H

#include <stddef.h>

struct asset {
	const char *name;		/* file name, no directory */
	const unsigned char *data;
	size_t len;
};

/* Built-in files, terminated by a NULL name (generated). */
extern const struct asset web_assets[];

#define ASSETS_MAX_FILES 256
#define ASSETS_MAX_BYTES (16u * 1024 * 1024)

struct asset_dir {
	struct asset *files;	/* names and data malloc'd */
	size_t n;
};

/* Loads the regular files directly in dir (no subfolders; names of
 * [A-Za-z0-9._-] not starting with '.'). Returns 0, or -1 with err set
 * (too many, too big, unreadable). */
int assets_load_dir(const char *dir, struct asset_dir *out, char *err, size_t errlen);
void assets_free_dir(struct asset_dir *d);

/* The asset for a request path ("/" means index.html), static_dir first,
 * or NULL. */
const struct asset *assets_find(const struct asset_dir *d, const char *path);

/* Content type by file extension. */
const char *assets_content_type(const char *name);

#endif
