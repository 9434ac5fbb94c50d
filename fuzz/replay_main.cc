// Corpus replay driver: lets the fuzz targets run under the normal (gcc) build as ctest tests, so the committed
// corpus is checked on every test run without clang or libFuzzer. Theory of operation: every regular file of every
// directory (or file) named on the command line is fed to LLVMFuzzerTestOneInput, followed by cheap variants
// derived from it -- each strict prefix, and each byte replaced by 0x00 and by 0xff -- which reach the truncation
// and corruption paths deterministically. A failed check aborts (exit by signal); an empty corpus is an error.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

size_t RunWithVariants(const std::vector<uint8_t>& in) {
  size_t runs = 0;
  LLVMFuzzerTestOneInput(in.data(), in.size());
  ++runs;
  for (size_t n = 0; n < in.size(); ++n, ++runs) {
    std::vector<uint8_t> prefix(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));  // exact-size buffer
    LLVMFuzzerTestOneInput(prefix.data(), prefix.size());
  }
  std::vector<uint8_t> v = in;
  for (size_t i = 0; i < v.size(); ++i) {
    uint8_t keep = v[i];
    for (uint8_t b : {uint8_t{0x00}, uint8_t{0xff}}) {
      v[i] = b;
      LLVMFuzzerTestOneInput(v.data(), v.size());
      ++runs;
    }
    v[i] = keep;
  }
  return runs;
}

void Collect(const std::string& path, std::vector<std::string>* files) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return;
  if (S_ISREG(st.st_mode)) {
    files->push_back(path);
    return;
  }
  if (!S_ISDIR(st.st_mode)) return;
  DIR* d = opendir(path.c_str());
  if (!d) return;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    Collect(path + "/" + name, files);
  }
  closedir(d);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) Collect(argv[i], &files);
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "replay: no corpus files found\n");
    return 2;
  }
  size_t runs = 0;
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    runs += RunWithVariants(data);
  }
  std::printf("replay: %zu files, %zu executions, all checks passed\n", files.size(), runs);
  return 0;
}
