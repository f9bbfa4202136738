#!/usr/bin/env bash
# Generates the demo's small seekable video (committed as examples/public/clip.webm).
# Needs ffmpeg (apt-get install ffmpeg); the demo and the tests do not.
# A 20-second 320x180 test pattern with a burnt-in clock, VP9 in WebM, a keyframe every second
# so that a seek near the end lands quickly, and cues written at the front.
set -euo pipefail
cd "$(dirname "$0")/../public"
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=320x180:rate=25:duration=20" \
  -vf "drawtext=text='%{pts\:hms}':x=10:y=10:fontsize=24:fontcolor=white:box=1:boxcolor=black" \
  -c:v libvpx-vp9 -b:v 150k -g 25 -keyint_min 25 -deadline good -cpu-used 4 -an \
  -cues_to_front 1 clip.webm
ls -l clip.webm
