// The parser library's anchor: keeps remora_parsers a valid archive whatever parsers it holds, so
// fuzz targets always have one small proto-free library to link.
namespace remora {
extern const int kParsersLibrary = 1;
}  // namespace remora
