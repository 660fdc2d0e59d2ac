// `nft -j list ruleset` captured from nftables 1.0.6 (Debian 12) in a namespace: knockspa's own table
// (as ownTableScript makes it, one grant in allow4), alone and beside iptables-nft's
// `-A INPUT -p tcp --dport 22 -j DROP` (table ip filter).
export const OWN_TABLE: unknown = {
  nftables: [
    {
      metainfo: {
        version: '1.0.6',
        release_name: 'Lester Gooch #5',
        json_schema_version: 1,
      },
    },
    {
      table: {
        family: 'inet',
        name: 'knockspa',
        handle: 1,
      },
    },
    {
      set: {
        family: 'inet',
        name: 'allow4',
        table: 'knockspa',
        type: ['ipv4_addr', 'inet_proto', 'inet_service'],
        handle: 1,
        flags: ['timeout'],
        elem: [
          {
            elem: {
              val: {
                concat: ['1.2.3.4', 'tcp', 22],
              },
              timeout: 100,
              expires: 92,
              comment: 'x',
            },
          },
        ],
      },
    },
    {
      set: {
        family: 'inet',
        name: 'allow6',
        table: 'knockspa',
        type: ['ipv6_addr', 'inet_proto', 'inet_service'],
        handle: 2,
        flags: ['timeout'],
      },
    },
    {
      set: {
        family: 'inet',
        name: 'protected',
        table: 'knockspa',
        type: ['inet_proto', 'inet_service'],
        handle: 3,
        elem: [
          {
            concat: ['tcp', 22],
          },
          {
            concat: ['udp', 53],
          },
        ],
      },
    },
    {
      chain: {
        family: 'inet',
        table: 'knockspa',
        name: 'input',
        handle: 4,
        type: 'filter',
        hook: 'input',
        prio: -10,
        policy: 'accept',
      },
    },
    {
      rule: {
        family: 'inet',
        table: 'knockspa',
        chain: 'input',
        handle: 5,
        expr: [
          {
            match: {
              op: 'in',
              left: {
                ct: {
                  key: 'state',
                },
              },
              right: ['established', 'related'],
            },
          },
          {
            accept: null,
          },
        ],
      },
    },
    {
      rule: {
        family: 'inet',
        table: 'knockspa',
        chain: 'input',
        handle: 6,
        expr: [
          {
            match: {
              op: '==',
              left: {
                meta: {
                  key: 'iif',
                },
              },
              right: 'lo',
            },
          },
          {
            accept: null,
          },
        ],
      },
    },
    {
      rule: {
        family: 'inet',
        table: 'knockspa',
        chain: 'input',
        handle: 7,
        expr: [
          {
            match: {
              op: '==',
              left: {
                concat: [
                  {
                    payload: {
                      protocol: 'ip',
                      field: 'saddr',
                    },
                  },
                  {
                    meta: {
                      key: 'l4proto',
                    },
                  },
                  {
                    payload: {
                      protocol: 'th',
                      field: 'dport',
                    },
                  },
                ],
              },
              right: '@allow4',
            },
          },
          {
            accept: null,
          },
        ],
      },
    },
    {
      rule: {
        family: 'inet',
        table: 'knockspa',
        chain: 'input',
        handle: 8,
        expr: [
          {
            match: {
              op: '==',
              left: {
                concat: [
                  {
                    payload: {
                      protocol: 'ip6',
                      field: 'saddr',
                    },
                  },
                  {
                    meta: {
                      key: 'l4proto',
                    },
                  },
                  {
                    payload: {
                      protocol: 'th',
                      field: 'dport',
                    },
                  },
                ],
              },
              right: '@allow6',
            },
          },
          {
            accept: null,
          },
        ],
      },
    },
    {
      rule: {
        family: 'inet',
        table: 'knockspa',
        chain: 'input',
        handle: 9,
        expr: [
          {
            match: {
              op: '==',
              left: {
                concat: [
                  {
                    meta: {
                      key: 'l4proto',
                    },
                  },
                  {
                    payload: {
                      protocol: 'th',
                      field: 'dport',
                    },
                  },
                ],
              },
              right: '@protected',
            },
          },
          {
            drop: null,
          },
        ],
      },
    },
  ],
};

export const OWN_TABLE_AND_IPTABLES_DROP: unknown = {
  nftables: [
    {
      metainfo: {
        version: '1.0.6',
        release_name: 'Lester Gooch #5',
        json_schema_version: 1,
      },
    },
    {
      table: {
        family: 'inet',
        name: 'knockspa',
        handle: 1,
      },
    },
    {
      set: {
        family: 'inet',
        name: 'allow4',
        table: 'knockspa',
        type: ['ipv4_addr', 'inet_proto', 'inet_service'],
        handle: 1,
        flags: ['timeout'],
        elem: [
          {
            elem: {
              val: {
                concat: ['1.2.3.4', 'tcp', 22],
              },
              timeout: 100,
              expires: 92,
              comment: 'x',
            },
          },
        ],
      },
    },
    {
      set: {
        family: 'inet',
        name: 'allow6',
        table: 'knockspa',
        type: ['ipv6_addr', 'inet_proto', 'inet_service'],
        handle: 2,
        flags: ['timeout'],
      },
    },
    {
      set: {
        family: 'inet',
        name: 'protected',
        table: 'knockspa',
        type: ['inet_proto', 'inet_service'],
        handle: 3,
        elem: [
          {
            concat: ['tcp', 22],
          },
          {
            concat: ['udp', 53],
          },
        ],
      },
    },
    {
      chain: {
        family: 'inet',
        table: 'knockspa',
        name: 'input',
        handle: 4,
        type: 'filter',
        hook: 'input',
        prio: -10,
        policy: 'accept',
      },
    },
    {
      rule: {
        family: 'inet',
        table: 'knockspa',
        chain: 'input',
        handle: 5,
        expr: [
          {
            match: {
              op: 'in',
              left: {
                ct: {
                  key: 'state',
                },
              },
              right: ['established', 'related'],
            },
          },
          {
            accept: null,
          },
        ],
      },
    },
    {
      rule: {
        family: 'inet',
        table: 'knockspa',
        chain: 'input',
        handle: 6,
        expr: [
          {
            match: {
              op: '==',
              left: {
                meta: {
                  key: 'iif',
                },
              },
              right: 'lo',
            },
          },
          {
            accept: null,
          },
        ],
      },
    },
    {
      rule: {
        family: 'inet',
        table: 'knockspa',
        chain: 'input',
        handle: 7,
        expr: [
          {
            match: {
              op: '==',
              left: {
                concat: [
                  {
                    payload: {
                      protocol: 'ip',
                      field: 'saddr',
                    },
                  },
                  {
                    meta: {
                      key: 'l4proto',
                    },
                  },
                  {
                    payload: {
                      protocol: 'th',
                      field: 'dport',
                    },
                  },
                ],
              },
              right: '@allow4',
            },
          },
          {
            accept: null,
          },
        ],
      },
    },
    {
      rule: {
        family: 'inet',
        table: 'knockspa',
        chain: 'input',
        handle: 8,
        expr: [
          {
            match: {
              op: '==',
              left: {
                concat: [
                  {
                    payload: {
                      protocol: 'ip6',
                      field: 'saddr',
                    },
                  },
                  {
                    meta: {
                      key: 'l4proto',
                    },
                  },
                  {
                    payload: {
                      protocol: 'th',
                      field: 'dport',
                    },
                  },
                ],
              },
              right: '@allow6',
            },
          },
          {
            accept: null,
          },
        ],
      },
    },
    {
      rule: {
        family: 'inet',
        table: 'knockspa',
        chain: 'input',
        handle: 9,
        expr: [
          {
            match: {
              op: '==',
              left: {
                concat: [
                  {
                    meta: {
                      key: 'l4proto',
                    },
                  },
                  {
                    payload: {
                      protocol: 'th',
                      field: 'dport',
                    },
                  },
                ],
              },
              right: '@protected',
            },
          },
          {
            drop: null,
          },
        ],
      },
    },
    {
      table: {
        family: 'ip',
        name: 'filter',
        handle: 2,
      },
    },
    {
      chain: {
        family: 'ip',
        table: 'filter',
        name: 'INPUT',
        handle: 1,
        type: 'filter',
        hook: 'input',
        prio: 0,
        policy: 'accept',
      },
    },
    {
      rule: {
        family: 'ip',
        table: 'filter',
        chain: 'INPUT',
        handle: 2,
        expr: [
          {
            match: {
              op: '==',
              left: {
                payload: {
                  protocol: 'tcp',
                  field: 'dport',
                },
              },
              right: 22,
            },
          },
          {
            counter: {
              packets: 0,
              bytes: 0,
            },
          },
          {
            drop: null,
          },
        ],
      },
    },
  ],
};
