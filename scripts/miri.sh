#!/usr/bin/env bash
# Runs the unit tests that need no system calls under Miri (undefined-behaviour checks of the
# pure code: the sync state machines' model checks, the codec, the typed wire records of the
# fork server, the tracker and service processes, the Target trait, logging levels, hex and
# deadlines), with a bounded time (MIRI_SECONDS, default 900). Needs the nightly toolchain
# with the miri component (`rustup component add --toolchain nightly miri`).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${MIRI_SECONDS:-900}
filters=(
  sync::model::
  codec::tests::round_trips_and_appends
  codec::tests::a_failed_encode_leaves_the_buffer_as_it_was
  codec::tests::truncated_and_garbage_input_is_an_error
  codec::tests::what_postcard_cannot_do_is_explained_with_the_type
  codec::tests::a_serialize_impls_own_message_reaches_the_caller
  process::start::forkserver::wire::
  shm::tracker::tests::messages_round_trip_at_the_longest_name
  service::tests::specs_round_trip_and_garbage_is_refused
  func::
  logging::
  util::tests::hex_round_trips_and_rejects_garbage
  deadline::
)
# Isolation off: the tests read the clock (deadlines); nothing else of the host is touched.
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}"
timeout "$seconds" cargo +nightly miri test --lib -- "${filters[@]}"
