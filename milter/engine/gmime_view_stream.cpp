// gmime_view_stream: GMimeStream's read, seek, tell, length and substream over a byte range held elsewhere.
// Positions are absolute in the whole range, bounded by the stream's bound_start/bound_end, as GMime's own
// memory stream has them: the parser turns part offsets into substreams with those positions.
#include "engine/gmime_view_stream.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace presend {

namespace {

struct ViewStream {
    GMimeStream parent; // GObject's single inheritance: the parent instance comes first
    const char* data;
    gint64 size;
};

struct ViewStreamClass {
    GMimeStreamClass parent_class;
};

ViewStream* view(GMimeStream* stream) {
    return reinterpret_cast<ViewStream*>(stream);
}

gint64 bound_end(GMimeStream* stream) {
    return stream->bound_end != -1 ? std::min(stream->bound_end, view(stream)->size) : view(stream)->size;
}

ssize_t view_read(GMimeStream* stream, char* buf, size_t len) {
    const gint64 left = bound_end(stream) - stream->position;
    if (left < 0) {
        errno = EINVAL;
        return -1;
    }
    const auto n = static_cast<size_t>(std::min<gint64>(left, static_cast<gint64>(len)));
    if (n > 0) std::memcpy(buf, view(stream)->data + stream->position, n);
    stream->position += static_cast<gint64>(n);
    return static_cast<ssize_t>(n);
}

ssize_t view_write(GMimeStream* /*stream*/, const char* /*buf*/, size_t /*len*/) {
    errno = EBADF; // read-only: the bytes belong to the caller
    return -1;
}

int view_flush(GMimeStream* /*stream*/) {
    return 0;
}

int view_close(GMimeStream* /*stream*/) {
    return 0;
}

gboolean view_eos(GMimeStream* stream) {
    return stream->position >= bound_end(stream) ? TRUE : FALSE;
}

int view_reset(GMimeStream* stream) {
    stream->position = stream->bound_start;
    return 0;
}

gint64 view_seek(GMimeStream* stream, gint64 offset, GMimeSeekWhence whence) {
    const gint64 end = bound_end(stream);
    gint64 target = stream->position;
    switch (whence) {
    case GMIME_STREAM_SEEK_SET:
        target = offset;
        break;
    case GMIME_STREAM_SEEK_CUR:
        target = stream->position + offset;
        break;
    case GMIME_STREAM_SEEK_END:
        target = end + offset;
        break;
    }
    stream->position = std::clamp(target, stream->bound_start, std::max(end, stream->bound_start));
    return stream->position;
}

gint64 view_tell(GMimeStream* stream) {
    return stream->position;
}

gint64 view_length(GMimeStream* stream) {
    return std::max<gint64>(bound_end(stream) - stream->bound_start, 0);
}

GType view_stream_type();

GMimeStream* view_substream(GMimeStream* stream, gint64 start, gint64 end) {
    auto* sub = static_cast<ViewStream*>(g_object_new(view_stream_type(), nullptr));
    sub->data = view(stream)->data;
    sub->size = view(stream)->size;
    g_mime_stream_construct(&sub->parent, start, end);
    return &sub->parent;
}

void view_class_init(gpointer klass, gpointer /*data*/) {
    auto* stream_class = static_cast<GMimeStreamClass*>(klass);
    stream_class->read = view_read;
    stream_class->write = view_write;
    stream_class->flush = view_flush;
    stream_class->close = view_close;
    stream_class->eos = view_eos;
    stream_class->reset = view_reset;
    stream_class->seek = view_seek;
    stream_class->tell = view_tell;
    stream_class->length = view_length;
    stream_class->substream = view_substream;
}

// Registered once, on first use; GLib's type registry is thread-safe and a magic static runs this once.
GType view_stream_type() {
    static const GType s_type = g_type_register_static_simple(
        g_mime_stream_get_type(), "PresendViewStream", sizeof(ViewStreamClass), view_class_init,
        sizeof(ViewStream), nullptr, static_cast<GTypeFlags>(0));
    return s_type;
}

} // namespace

GMimeStream* view_stream_new(std::string_view bytes) {
    auto* stream = static_cast<ViewStream*>(g_object_new(view_stream_type(), nullptr));
    stream->data = bytes.data();
    stream->size = static_cast<gint64>(bytes.size());
    g_mime_stream_construct(&stream->parent, 0, -1);
    return &stream->parent;
}

std::optional<std::string_view> view_stream_bytes(GMimeStream* stream) {
    if (stream == nullptr ||
        g_type_check_instance_is_a(reinterpret_cast<GTypeInstance*>(stream), view_stream_type()) == 0)
        return std::nullopt;
    const gint64 begin = std::min(stream->bound_start, view(stream)->size);
    const gint64 end = std::max(bound_end(stream), begin);
    return std::string_view(view(stream)->data + begin, static_cast<std::size_t>(end - begin));
}

} // namespace presend
