# Two layer trees under $work, as packaging/layer lays them out, for the
# sandbox's --opt: "new" with our shim, "old" with one that has glibc 2.26's
# version nodes only.  Source it; needs $work $lambshm $preload $librt $shim
# $old_shim.
for which in new old; do
  mkdir -p "$work/$which/bin" "$work/$which/lib/overlay"
  cp "$lambshm" "$work/$which/bin/lambshm"
  cp "$preload" "$work/$which/lib/"
  cp "$librt" "$work/$which/lib/overlay/"
done
cp "$shim" "$work/new/lib/overlay/"
cp "$old_shim" "$work/old/lib/overlay/"
