# cmake -DSPIRV=file.spv -DOUTPUT=file.inc -P embed_spirv.cmake
# Writes the SPIR-V words of file.spv as a C initializer list ({0x07230203u, ...}). SPIR-V files
# are little-endian words, so each group of four bytes is reversed into one hexadecimal literal.
file(READ ${SPIRV} hex HEX)
string(LENGTH "${hex}" length)
math(EXPR remainder "${length} % 8")
if(length EQUAL 0 OR NOT remainder EQUAL 0)
  message(FATAL_ERROR "${SPIRV} is not a whole number of 32-bit words")
endif()
string(REGEX REPLACE "(..)(..)(..)(..)" "0x\\4\\3\\2\\1u," words "${hex}")
string(REGEX REPLACE "(0x........u,0x........u,0x........u,0x........u,0x........u,0x........u,)"
       "\\1\n" words "${words}")
file(WRITE ${OUTPUT} "{\n${words}\n}\n")
