# Resolves TESSERA_VULKAN and TESSERA_CUDA (AUTO: on when the SDK is found) and collects the
# names of the backends built in.
set(TESSERA_BACKENDS_BUILT "cpu")

if(NOT TESSERA_VULKAN STREQUAL "OFF")
  find_package(Vulkan QUIET)
  find_program(TESSERA_GLSLC glslc)
  if(Vulkan_FOUND AND TESSERA_GLSLC)
    set(TESSERA_HAVE_VULKAN ON)
  elseif(TESSERA_VULKAN STREQUAL "ON")
    message(FATAL_ERROR "TESSERA_VULKAN=ON but the Vulkan headers/loader (libvulkan-dev) or glslc "
      "were not found. Run scripts/setup.sh, or configure with -DTESSERA_VULKAN=OFF.")
  endif()
endif()

if(NOT TESSERA_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(TESSERA_HAVE_CUDA ON)
  elseif(TESSERA_CUDA STREQUAL "ON")
    message(FATAL_ERROR "TESSERA_CUDA=ON but no CUDA compiler was found (looked in PATH and "
      "/usr/local/cuda). Configure with -DTESSERA_CUDA=OFF.")
  endif()
endif()

# A backend is built in when its SDK was found and its sources are in the tree.
if(TESSERA_HAVE_VULKAN AND EXISTS ${CMAKE_SOURCE_DIR}/backends/vulkan/CMakeLists.txt)
  string(APPEND TESSERA_BACKENDS_BUILT " vulkan")
  set(TESSERA_BUILD_VULKAN ON)
endif()
if(TESSERA_HAVE_CUDA AND EXISTS ${CMAKE_SOURCE_DIR}/backends/cuda/CMakeLists.txt)
  string(APPEND TESSERA_BACKENDS_BUILT " cuda")
  set(TESSERA_BUILD_CUDA ON)
endif()
