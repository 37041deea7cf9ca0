# `cmake --install`: wake's libraries, public headers and a CMake package, so an embedding program's
# build can say `find_package(wake)` and link `wake::wake_engine` (see examples/embed/).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(wake_installed_libraries
  wake_base wake_schemas wake_storage wake_sandbox wake_hand_local wake_hand_docker wake_harness
  wake_inspect wake_engine)

# Inside the tree the sources' root is the include path; installed, it is <prefix>/include.
foreach(target IN LISTS wake_installed_libraries)
  get_target_property(type ${target} TYPE)
  set(scope INTERFACE_INCLUDE_DIRECTORIES)
  set_target_properties(${target} PROPERTIES ${scope}
    "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>;$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
endforeach()
# The generated Cap'n Proto header (schemas/event.capnp.h) is installed beside the sources' headers.
set_property(TARGET wake_schemas APPEND PROPERTY INTERFACE_INCLUDE_DIRECTORIES
  "$<BUILD_INTERFACE:${CMAKE_BINARY_DIR}/schemas/gen>")
set_property(TARGET wake_schemas APPEND PROPERTY INTERFACE_SYSTEM_INCLUDE_DIRECTORIES
  "$<BUILD_INTERFACE:${CMAKE_BINARY_DIR}/schemas/gen>")

install(TARGETS ${wake_installed_libraries} EXPORT wakeTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
foreach(module base schemas storage sandbox harness inspect engine)
  install(DIRECTORY ${module}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/${module}
          FILES_MATCHING PATTERN "*.h")
endforeach()
install(FILES ${CMAKE_BINARY_DIR}/schemas/gen/schemas/event.capnp.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/schemas)
install(EXPORT wakeTargets NAMESPACE wake:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/wake)

configure_package_config_file(cmake/wakeConfig.cmake.in ${CMAKE_BINARY_DIR}/wakeConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/wake)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/wakeConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/wakeConfig.cmake ${CMAKE_BINARY_DIR}/wakeConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/wake)

# The programs: the server, the operator's CLI, and the hand agent waked finds beside itself and
# copies into docker hands.
foreach(program waked wakectl wake_hand_agent)
  if(TARGET ${program})
    install(TARGETS ${program} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()
