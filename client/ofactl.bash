# bash completion for ofactl: commands, each command's options, arena names
# (asked of the daemon with `ofactl arenas`, on the socket given on the
# line, else $OFAD_SOCKET), and the values of --sort.
_ofactl()
{
    local cur prev words cword
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion || return
    else
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    local commands="ping arenas stats create drop clients blocks top"
    local cmd="" socket="" i
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
        --socket) socket=${words[i+1]}; ((i++)) ;;
        --socket=*) socket=${words[i]#--socket=} ;;
        --timeout|--wait|--page-size|--max|--align|--mode|--limit|--sort|--watch|--count) ((i++)) ;;
        -*) ;;
        *) [ -z "$cmd" ] && cmd=${words[i]} ;;
        esac
    done

    case $prev in
    --socket) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --sort) COMPREPLY=($(compgen -W "size owner" -- "$cur")); return ;;
    --timeout|--wait|--page-size|--max|--align|--mode|--limit|--watch|--count) return ;;
    esac

    local opts="--socket --timeout --help --version"
    case $cmd in
    "") COMPREPLY=($(compgen -W "$commands $opts" -- "$cur")); return ;;
    ping) opts="$opts --wait" ;;
    arenas|clients) opts="$opts --json" ;;
    stats) opts="$opts --json --prometheus --watch --count" ;;
    create) opts="$opts --page-size --max --align --mode" ;;
    drop) opts="$opts --force" ;;
    blocks) opts="$opts --json --free --limit --sort" ;;
    top) opts="$opts --watch" ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    case $cmd in
    stats|drop|blocks)
        local arenas
        arenas=$(ofactl ${socket:+--socket "$socket"} --timeout 2 arenas 2>/dev/null |
            awk 'NR > 1 { print $1 }')
        COMPREPLY=($(compgen -W "$arenas" -- "$cur"))
        ;;
    esac
}
complete -F _ofactl ofactl
