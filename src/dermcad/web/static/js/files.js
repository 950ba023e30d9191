// Loading images into the page: only images, each name once.

const IMAGE_NAME = /\.(jpe?g|png|bmp|gif|webp|tiff?)$/i;

/** An image by its MIME type, or by its name when the browser gives no type. */
export function isImageFile(file) {
  if (file.type) return file.type.startsWith("image/");
  return IMAGE_NAME.test(file.name);
}

/**
 * Split the offered files into the ones to add and the ones to refuse.
 * `existingNames` is a Set of names already loaded; a name seen twice in one drop counts too.
 */
export function triageFiles(files, existingNames) {
  const names = new Set(existingNames);
  const added = [];
  const duplicates = [];
  const rejected = [];
  for (const file of files) {
    if (!isImageFile(file)) rejected.push(file.name);
    else if (names.has(file.name)) duplicates.push(file.name);
    else {
      names.add(file.name);
      added.push(file);
    }
  }
  return { added, duplicates, rejected };
}

/**
 * Decode an image once in the browser: its own pixel size and a small JPEG thumbnail for the
 * tiles (so that a grid of 3072 x 2304 photographs stays light). Null when it cannot be decoded.
 */
export async function makeThumbnail(file, maxSide = 480) {
  try {
    const bitmap = await createImageBitmap(file);
    const size = { width: bitmap.width, height: bitmap.height };
    const scale = Math.min(1, maxSide / Math.max(size.width, size.height));
    const canvas = new OffscreenCanvas(Math.round(size.width * scale), Math.round(size.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.85 });
    return { size, url: URL.createObjectURL(blob) };
  } catch {
    return null;
  }
}

/** The longest loaded file name mentioned in a server message, or null. */
export function fileNamedIn(message, items) {
  let best = null;
  for (const item of items) {
    if (message.includes(item.name) && (!best || item.name.length > best.name.length)) best = item;
  }
  return best;
}
