#pragma once
// The project version, passed by Meson (project(version:)) as -DVS_VERSION.
#ifndef VS_VERSION
#error "VS_VERSION must be defined by the build (meson.build: add_project_arguments)"
#endif
