// Reading a whole text file (a prompt, a template, a conversation) for the commands.
#pragma once

#include <string>

namespace tessera::tools {

// The file's bytes. Throws tessera::Error naming the file when it cannot be opened or read.
std::string read_text_file(const std::string& path);

}  // namespace tessera::tools
