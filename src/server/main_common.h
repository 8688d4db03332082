#pragma once

namespace remora::server {

// The whole process: parse flags, load and validate the bootstrap, then serve or exit.
int mainCommon(int argc, char** argv);

}  // namespace remora::server
