#ifndef CGSF_SHIM_H
#define CGSF_SHIM_H
/* libgsf reads OLE2 compound documents (Zeiss Xradia .txrm/.xrm files). The GObject cast
   macros (GSF_INFILE, G_OBJECT) are not importable into Swift, so the few calls BatteryLens
   needs are wrapped here with opaque pointers. */
#include <gsf/gsf-input-stdio.h>
#include <gsf/gsf-infile.h>
#include <gsf/gsf-infile-msole.h>
#include <gsf/gsf-utils.h>
#include <stdlib.h>
#include <string.h>

/* Opens an OLE2 file; NULL and *error_message (free with free()) on failure. */
static inline void *cgsf_open_msole(const char *path, char **error_message) {
    GError *error = NULL;
    *error_message = NULL;
    GsfInput *input = gsf_input_stdio_new(path, &error);
    if (input == NULL) {
        *error_message = strdup(error != NULL ? error->message : "cannot open");
        if (error != NULL) g_error_free(error);
        return NULL;
    }
    GsfInfile *infile = gsf_infile_msole_new(input, &error);
    g_object_unref(input);
    if (infile == NULL) {
        *error_message = strdup(error != NULL ? error->message : "not an OLE2 compound document");
        if (error != NULL) g_error_free(error);
        return NULL;
    }
    return infile;
}

static inline void cgsf_release(void *object) { if (object != NULL) g_object_unref(object); }

/* Children of a storage (a folder); -1 for a stream. */
static inline int cgsf_child_count(void *node) { return gsf_infile_num_children(GSF_INFILE(node)); }
static inline const char *cgsf_child_name(void *node, int index) { return gsf_infile_name_by_index(GSF_INFILE(node), index); }
/* A child by name (new reference, release it), or NULL. */
static inline void *cgsf_child(void *node, const char *name) { return gsf_infile_child_by_name(GSF_INFILE(node), name); }

static inline long long cgsf_size(void *stream) { return (long long)gsf_input_size(GSF_INPUT(stream)); }
/* Reads `count` bytes at `offset` into `buffer`; 0 on failure. */
static inline int cgsf_read(void *stream, long long offset, size_t count, void *buffer) {
    GsfInput *input = GSF_INPUT(stream);
    if (gsf_input_seek(input, (gsf_off_t)offset, G_SEEK_SET)) return 0;
    return gsf_input_read(input, count, buffer) != NULL;
}
#endif
