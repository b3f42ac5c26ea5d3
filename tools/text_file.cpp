#include "tools/text_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "formats/error.h"

namespace tessera::tools {

std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw Error(path + ": read failed");
    return text.str();
}

}  // namespace tessera::tools
