using System.Buffers.Binary;
using System.IO.Compression;

namespace LlamaGateway.Bench.Infrastructure;

/// <summary>
/// A minimal RGB raster with rectangles, lines and a built-in 5x7 bitmap font, saved as PNG with our own encoder
/// (zlib via <see cref="ZLibStream"/>, CRC-32 by table). Enough for bar charts without a plotting library.
/// </summary>
internal sealed class Canvas
{
    private readonly byte[] _pixels;

    public Canvas(int width, int height, Rgb background)
    {
        Width = width;
        Height = height;
        _pixels = new byte[width * height * 3];
        FillRect(0, 0, width, height, background);
    }

    public int Width { get; }

    public int Height { get; }

    public void SetPixel(int x, int y, Rgb color)
    {
        if ((uint)x >= (uint)Width || (uint)y >= (uint)Height)
        {
            return;
        }

        var i = ((y * Width) + x) * 3;
        _pixels[i] = color.R;
        _pixels[i + 1] = color.G;
        _pixels[i + 2] = color.B;
    }

    public void FillRect(int x, int y, int width, int height, Rgb color)
    {
        var x0 = Math.Max(0, x);
        var y0 = Math.Max(0, y);
        var x1 = Math.Min(Width, x + width);
        var y1 = Math.Min(Height, y + height);
        for (var yy = y0; yy < y1; yy++)
        {
            for (var xx = x0; xx < x1; xx++)
            {
                SetPixel(xx, yy, color);
            }
        }
    }

    public void StrokeRect(int x, int y, int width, int height, Rgb color)
    {
        HLine(x, x + width - 1, y, color);
        HLine(x, x + width - 1, y + height - 1, color);
        VLine(x, y, y + height - 1, color);
        VLine(x + width - 1, y, y + height - 1, color);
    }

    public void HLine(int x0, int x1, int y, Rgb color, bool dashed = false)
    {
        for (var x = Math.Min(x0, x1); x <= Math.Max(x0, x1); x++)
        {
            if (!dashed || (x / 4) % 2 == 0)
            {
                SetPixel(x, y, color);
            }
        }
    }

    public void VLine(int x, int y0, int y1, Rgb color)
    {
        for (var y = Math.Min(y0, y1); y <= Math.Max(y0, y1); y++)
        {
            SetPixel(x, y, color);
        }
    }

    /// <summary>Width in pixels of <paramref name="text"/> at <paramref name="scale"/>.</summary>
    public static int TextWidth(string text, int scale) => text.Length == 0 ? 0 : ((text.Length * 6) - 1) * scale;

    public static int TextHeight(int scale) => 7 * scale;

    public void DrawText(int x, int y, string text, Rgb color, int scale = 2)
    {
        var cx = x;
        foreach (var raw in text)
        {
            var glyph = Font.Glyph(raw);
            for (var row = 0; row < 7; row++)
            {
                var bits = glyph[row];
                for (var col = 0; col < 5; col++)
                {
                    if ((bits & (1 << (4 - col))) != 0)
                    {
                        FillRect(cx + (col * scale), y + (row * scale), scale, scale, color);
                    }
                }
            }

            cx += 6 * scale;
        }
    }

    public void DrawTextCentered(int centerX, int y, string text, Rgb color, int scale = 2) =>
        DrawText(centerX - (TextWidth(text, scale) / 2), y, text, color, scale);

    public void Save(string path)
    {
        using var file = File.Create(path);
        file.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);

        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(0), Width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), Height);
        header[8] = 8; // bit depth
        header[9] = 2; // colour type: truecolour RGB
        WriteChunk(file, "IHDR", header);

        using var raw = new MemoryStream();
        using (var zlib = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
        {
            for (var y = 0; y < Height; y++)
            {
                zlib.WriteByte(0); // filter: none
                zlib.Write(_pixels, y * Width * 3, Width * 3);
            }
        }

        WriteChunk(file, "IDAT", raw.ToArray());
        WriteChunk(file, "IEND", []);
    }

    private static void WriteChunk(Stream stream, string type, byte[] data)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        stream.Write(length);
        var typeBytes = System.Text.Encoding.ASCII.GetBytes(type);
        stream.Write(typeBytes);
        stream.Write(data);
        var crc = Crc32.Update(Crc32.Update(0xFFFFFFFFu, typeBytes), data) ^ 0xFFFFFFFFu;
        Span<byte> crcBytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crcBytes, crc);
        stream.Write(crcBytes);
    }

    private static class Crc32
    {
        private static readonly uint[] Table = Build();

        public static uint Update(uint crc, ReadOnlySpan<byte> data)
        {
            foreach (var b in data)
            {
                crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
            }

            return crc;
        }

        private static uint[] Build()
        {
            var table = new uint[256];
            for (uint n = 0; n < 256; n++)
            {
                var c = n;
                for (var k = 0; k < 8; k++)
                {
                    c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                }

                table[n] = c;
            }

            return table;
        }
    }
}

internal readonly record struct Rgb(byte R, byte G, byte B)
{
    public static readonly Rgb White = new(255, 255, 255);
    public static readonly Rgb Black = new(20, 20, 20);
    public static readonly Rgb Grid = new(220, 220, 220);
    public static readonly Rgb Axis = new(90, 90, 90);
    public static readonly Rgb Muted = new(110, 110, 110);

    /// <summary>A colour-blind-friendly series palette (Okabe-Ito).</summary>
    public static readonly Rgb[] Palette =
    [
        new(0, 114, 178), new(230, 159, 0), new(204, 121, 167), new(0, 158, 115),
        new(213, 94, 0), new(86, 180, 233), new(240, 228, 66), new(0, 0, 0),
    ];
}

/// <summary>A 5x7 bitmap font: upper case, digits and common punctuation (lower case is drawn as upper case).</summary>
internal static class Font
{
    private static readonly Dictionary<char, byte[]> Glyphs = Build();

    public static byte[] Glyph(char c)
    {
        c = c switch
        {
            >= 'a' and <= 'z' => char.ToUpperInvariant(c),
            '\u00b5' or '\u03bc' => 'U',
            '\u2264' => '<',
            '\u2265' => '>',
            '\u00d7' => 'X',
            '\u2013' or '\u2014' => '-',
            _ => c,
        };
        return Glyphs.TryGetValue(c, out var glyph) ? glyph : Glyphs['?'];
    }

    private static Dictionary<char, byte[]> Build()
    {
        // Each glyph: 7 rows of 5 columns, '#' = ink.
        var source = new Dictionary<char, string>
        {
            ['A'] = ".###. #...# #...# ##### #...# #...# #...#",
            ['B'] = "####. #...# #...# ####. #...# #...# ####.",
            ['C'] = ".###. #...# #.... #.... #.... #...# .###.",
            ['D'] = "###.. #..#. #...# #...# #...# #..#. ###..",
            ['E'] = "##### #.... #.... ####. #.... #.... #####",
            ['F'] = "##### #.... #.... ####. #.... #.... #....",
            ['G'] = ".###. #...# #.... #.### #...# #...# .####",
            ['H'] = "#...# #...# #...# ##### #...# #...# #...#",
            ['I'] = ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
            ['J'] = "..### ...#. ...#. ...#. ...#. #..#. .##..",
            ['K'] = "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
            ['L'] = "#.... #.... #.... #.... #.... #.... #####",
            ['M'] = "#...# ##.## #.#.# #.#.# #...# #...# #...#",
            ['N'] = "#...# #...# ##..# #.#.# #..## #...# #...#",
            ['O'] = ".###. #...# #...# #...# #...# #...# .###.",
            ['P'] = "####. #...# #...# ####. #.... #.... #....",
            ['Q'] = ".###. #...# #...# #...# #.#.# #..#. .##.#",
            ['R'] = "####. #...# #...# ####. #.#.. #..#. #...#",
            ['S'] = ".#### #.... #.... .###. ....# ....# ####.",
            ['T'] = "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
            ['U'] = "#...# #...# #...# #...# #...# #...# .###.",
            ['V'] = "#...# #...# #...# #...# #...# .#.#. ..#..",
            ['W'] = "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
            ['X'] = "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
            ['Y'] = "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
            ['Z'] = "##### ....# ...#. ..#.. .#... #.... #####",
            ['0'] = ".###. #...# #..## #.#.# ##..# #...# .###.",
            ['1'] = "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
            ['2'] = ".###. #...# ....# ...#. ..#.. .#... #####",
            ['3'] = "##### ...#. ..#.. ...#. ....# #...# .###.",
            ['4'] = "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
            ['5'] = "##### #.... ####. ....# ....# #...# .###.",
            ['6'] = "..##. .#... #.... ####. #...# #...# .###.",
            ['7'] = "##### ....# ...#. ..#.. .#... .#... .#...",
            ['8'] = ".###. #...# #...# .###. #...# #...# .###.",
            ['9'] = ".###. #...# #...# .#### ....# ...#. .##..",
            [' '] = "..... ..... ..... ..... ..... ..... .....",
            ['.'] = "..... ..... ..... ..... ..... .##.. .##..",
            [','] = "..... ..... ..... ..... .##.. ..#.. .#...",
            [':'] = "..... .##.. .##.. ..... .##.. .##.. .....",
            [';'] = "..... .##.. .##.. ..... .##.. ..#.. .#...",
            ['%'] = "##... ##..# ...#. ..#.. .#... #..## ...##",
            ['('] = "...#. ..#.. .#... .#... .#... ..#.. ...#.",
            [')'] = ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
            ['-'] = "..... ..... ..... ##### ..... ..... .....",
            ['+'] = "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
            ['/'] = "..... ....# ...#. ..#.. .#... #.... .....",
            ['_'] = "..... ..... ..... ..... ..... ..... #####",
            ['='] = "..... ..... ##### ..... ##### ..... .....",
            ['<'] = "...#. ..#.. .#... #.... .#... ..#.. ...#.",
            ['>'] = ".#... ..#.. ...#. ....# ...#. ..#.. .#...",
            ['\''] = "..#.. ..#.. .#... ..... ..... ..... .....",
            ['"'] = ".#.#. .#.#. ..... ..... ..... ..... .....",
            ['['] = ".###. .#... .#... .#... .#... .#... .###.",
            [']'] = ".###. ...#. ...#. ...#. ...#. ...#. .###.",
            ['#'] = ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.",
            ['*'] = "..... ..#.. #.#.# .###. #.#.# ..#.. .....",
            ['?'] = ".###. #...# ....# ...#. ..#.. ..... ..#..",
            ['!'] = "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..",
            ['|'] = "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
            ['&'] = ".##.. #..#. #.#.. .#... #.#.# #..#. .##.#",
            ['@'] = ".###. #...# #.### #.#.# #.### #.... .####",
        };
        var glyphs = new Dictionary<char, byte[]>();
        foreach (var (c, pattern) in source)
        {
            var rows = pattern.Split(' ');
            var bits = new byte[7];
            for (var r = 0; r < 7; r++)
            {
                for (var col = 0; col < 5; col++)
                {
                    if (rows[r][col] == '#')
                    {
                        bits[r] |= (byte)(1 << (4 - col));
                    }
                }
            }

            glyphs[c] = bits;
        }

        return glyphs;
    }
}
