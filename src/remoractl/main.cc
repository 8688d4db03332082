#include <iostream>

#include "remoractl/command.h"

int main(int argc, char** argv) {
  return remora::remoractl::dispatch(std::vector<std::string>(argv + 1, argv + argc), std::cout,
                                     std::cerr);
}
