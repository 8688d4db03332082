#include "server/main_common.h"

int main(int argc, char** argv) { return remora::server::mainCommon(argc, argv); }
